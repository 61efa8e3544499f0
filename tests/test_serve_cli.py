"""`visionflow serve` as a real process: readiness, graceful SIGTERM with a request in flight,
and clear errors for a bad run folder or a taken port."""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest

from conftest import shape_image


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _png() -> bytes:
    buf = io.BytesIO()
    shape_image("red", np.random.default_rng(0), 40).save(buf, format="PNG")
    return buf.getvalue()


def _start(run_dir, port: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "visionflow", "serve", str(run_dir), "--port", str(port), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_ready(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("server never became ready")


def test_sigterm_finishes_the_request_in_flight_then_exits_0(trained):
    run_dir, _ = trained
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(run_dir, port)
    try:
        _wait_ready(url, proc)
        boundary = "vfboundary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"red.png\"\r\n"
                f"Content-Type: image/png\r\n\r\n").encode()
        body = head + _png() + f"\r\n--{boundary}--\r\n".encode()
        sent_half = threading.Event()

        def slow_body():
            yield body[: len(body) // 2]
            sent_half.set()
            time.sleep(1.5)  # SIGTERM arrives while the body is still coming in
            yield body[len(body) // 2:]

        result = {}

        def request():
            result["response"] = httpx.post(url + "/v1/predict", content=slow_body(), timeout=30,
                                            headers={"content-type": f"multipart/form-data; boundary={boundary}"})

        thread = threading.Thread(target=request)
        thread.start()
        assert sent_half.wait(10)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(httpx.TransportError):  # no new connections once stopping
            httpx.get(url + "/healthz", timeout=2)
        thread.join(30)
        response = result["response"]
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["filename"] == "red.png"
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_errors_are_one_line_and_nonzero(trained, tmp_path):
    run_dir, _ = trained
    missing = subprocess.run([sys.executable, "-m", "visionflow", "serve", str(tmp_path / "nope")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    bad = subprocess.run([sys.executable, "-m", "visionflow", "serve", str(run_dir), "--backend", "torch"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "invalid choice: 'torch'" in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run([sys.executable, "-m", "visionflow", "serve", str(run_dir), "--port", str(port)],
                              capture_output=True, text=True, timeout=120)
    assert busy.returncode == 2 and f"Could not listen on 127.0.0.1:{port}" in busy.stderr
    assert "Traceback" not in busy.stderr
