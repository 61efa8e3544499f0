"""Micro-batching: concurrent requests share one model call.

Requests put their decoded images on a queue; one loop takes what is queued, waits up to
`max_wait` for more *only while other requests are still being decoded*, and runs the model
once for all of them on a single model thread. A lone request therefore never waits, and under
load the batch grows by itself: while the model runs, the next batch queues up.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from visionflow.serve.errors import ServeError


class MicroBatcher:
    """Gathers (n, h, w, 3) uint8 arrays from many requests into batches for `predict`.

    Args:
        predict: maps a uint8 batch (N, h, w, 3) to probabilities (N, k); runs on the model thread.
            A model that reads table columns gets (images, column features) tuples instead.
        max_batch: most images per model call.
        max_wait: seconds a batch may wait for requests that are on their way.
        max_queue: most images waiting; more is refused with 503.
        on_batch: called with the size of each batch (for metrics).
    """

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], max_batch: int, max_wait: float,
                 max_queue: int, on_batch: Callable[[int], None] = lambda n: None):
        self.predict = predict
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.max_queue = max_queue
        self.on_batch = on_batch
        self.queued = 0  # images waiting on the queue
        self.arriving = 0  # requests admitted but still decoding
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._model_thread = ThreadPoolExecutor(1, thread_name_prefix="model")

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._model_thread.shutdown(wait=True)

    def admit(self, count: int) -> None:
        """Reserves room for `count` images before decoding them; raises 503 when the queue is full."""
        if self.queued + count > self.max_queue:
            raise ServeError(503, "overloaded", f"The server is busy ({self.queued} images queued); retry shortly.",
                             headers={"Retry-After": "1"})
        self.arriving += 1

    def withdraw(self) -> None:
        """The admitted request will not submit (it failed while decoding)."""
        self.arriving -= 1

    def enqueue(self, images: np.ndarray) -> asyncio.Future:
        """Queues the images of an admitted request; the future gets their probabilities (n, k).

        Cancelling the future (a timed-out request) drops the images from their batch.
        """
        self.arriving -= 1
        future = asyncio.get_running_loop().create_future()
        self.queued += _count(images)
        self._queue.put_nowait((images, future))
        return future

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self._queue.get()]
            count = _count(items[0][0])
            deadline = loop.time() + self.max_wait
            while count < self.max_batch:
                if not self._queue.empty():
                    items.append(self._queue.get_nowait())
                elif self.arriving > 0 and loop.time() < deadline:
                    try:
                        items.append(await asyncio.wait_for(self._queue.get(), deadline - loop.time()))
                    except asyncio.TimeoutError:
                        break
                else:
                    break
                count += _count(items[-1][0])
            self.queued -= count
            live = [(x, f) for x, f in items if not f.done()]  # timed-out requests were cancelled
            if not live:
                continue
            batch = _join([x for x, _ in live])
            self.on_batch(_count(batch))
            try:
                probs = await loop.run_in_executor(self._model_thread, self.predict, batch)
            except Exception as exc:  # reported to each waiting request, which answers 500
                for _, future in live:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for x, future in live:
                if not future.done():
                    future.set_result(probs[start:start + _count(x)])
                start += _count(x)


def _count(x) -> int:
    """Examples in a request's input: an array, or a tuple of arrays (images and table columns)."""
    return len(x[0]) if isinstance(x, tuple) else len(x)


def _join(parts: list):
    """The inputs of several requests as one batch (each tuple member joined with its own kind)."""
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(member) for member in zip(*parts))
    return np.concatenate(parts)
