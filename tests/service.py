"""The HTTP service of a run in this process (FastAPI's TestClient), ready to answer."""

from __future__ import annotations

import contextlib
import time


@contextlib.contextmanager
def service(run, cfg=None, seconds: float = 120):
    """A TestClient of `visionflow serve RUN` with the settings `cfg` (a ServeConfig; default
    settings where None), once GET /readyz answers 200; AssertionError after `seconds` without."""
    from fastapi.testclient import TestClient

    from visionflow.serve.app import create_app
    from visionflow.serve.settings import ServeConfig

    with TestClient(create_app(run, cfg or ServeConfig()), raise_server_exceptions=False) as client:
        end = time.monotonic() + seconds
        while client.get("/readyz").status_code != 200:
            if time.monotonic() > end:
                raise AssertionError("the service never became ready")
            time.sleep(0.05)
        yield client
