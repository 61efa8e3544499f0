"""The HTTP service: predictions, every hard limit (hostile input, then a good one), readiness,
metrics, micro-batching, the ONNX backend."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import visionflow
from conftest import jpeg_bytes, png_with_huge_header, shape_image
from visionflow.serve.app import create_app
from visionflow.serve.batcher import MicroBatcher
from visionflow.serve.errors import ServeError
from visionflow.serve.settings import ServeConfig

LIMITS = dict(max_files=3, max_body_mb=0.25, max_pixels=1_000_000, timeout=5.0, max_queue=64)


def _png(label: str = "red", seed: int = 0, size: int = 40) -> bytes:
    buf = io.BytesIO()
    shape_image(label, np.random.default_rng(seed), size).save(buf, format="PNG")
    return buf.getvalue()


def _wait_ready(client: TestClient, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError("the service never became ready")


@pytest.fixture(scope="module")
def client(trained):
    run_dir, _ = trained
    with TestClient(create_app(run_dir, ServeConfig(**LIMITS)), raise_server_exceptions=False) as c:
        _wait_ready(c)
        yield c


def _good(client: TestClient) -> dict:
    response = client.post("/v1/predict", files={"file": ("red.png", _png(), "image/png")})
    assert response.status_code == 200, response.text
    return response.json()


def _error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["status"] == status and body["code"] == code
    return body["message"]


def test_predict_one_image_matches_the_library(client, trained):
    run_dir, _ = trained
    data = _good(client)
    [pred] = data["predictions"]
    assert pred["filename"] == "red.png" and len(pred["top"]) == 3
    expected = visionflow.load(run_dir).predict(_png())
    assert pred["label"] == expected.label
    assert pred["confidence"] == pytest.approx(expected.confidence, abs=1e-5)
    assert sum(t["probability"] for t in pred["top"]) == pytest.approx(1.0, abs=1e-5)


def test_predict_many_images_and_base64_json(client):
    files = [("file", (f"{c}.png", _png(c, i), "image/png")) for i, c in enumerate(["red", "green", "blue"])]
    multi = client.post("/v1/predict?top_k=1", files=files)
    assert multi.status_code == 200
    preds = multi.json()["predictions"]
    assert [p["filename"] for p in preds] == ["red.png", "green.png", "blue.png"]
    assert all(len(p["top"]) == 1 for p in preds)
    encoded = [base64.b64encode(_png(c, i)).decode() for i, c in enumerate(["red", "green", "blue"])]
    as_json = client.post("/v1/predict?top_k=1", json={"images": encoded})
    assert as_json.status_code == 200
    assert [p["label"] for p in as_json.json()["predictions"]] == [p["label"] for p in preds]
    one = client.post("/v1/predict", json={"image": encoded[0]})
    assert one.json()["predictions"][0]["filename"] == "images[0]"


def test_body_over_the_cap_is_413(client):
    big = b"\xff\xd8" + b"\x00" * 400_000  # over 0.25 MB
    message = _error(client.post("/v1/predict", files={"file": ("big.jpg", big, "image/jpeg")}), 413, "body_too_large")
    assert "0.25 MB" in message
    _good(client)


def test_chunked_body_over_the_cap_is_413(client):
    def chunks():  # no Content-Length: the cap must hold while the body streams
        for _ in range(20):
            yield b"x" * 50_000

    response = client.post("/v1/predict", content=chunks(), headers={"content-type": "application/json"})
    _error(response, 413, "body_too_large")
    _good(client)


def test_decompression_bomb_is_413(client):
    message = _error(client.post("/v1/predict", files={"file": ("bomb.png", png_with_huge_header(), "image/png")}),
                     413, "image_too_large")
    assert "bomb.png" in message and "1,000,000-pixel limit" in message
    # Under Pillow's own limit but over the service's: refused from the header, before decoding.
    message = _error(client.post("/v1/predict", files={"file": ("big.png", png_with_huge_header(2000, 1000),
                                                                 "image/png")}), 413, "image_too_large")
    assert "2000x1000 pixels, over the 1,000,000-pixel limit" in message
    _good(client)


@pytest.mark.parametrize("name, data, code", [
    ("notes.png", b"this is text renamed to .png\n", "not_an_image"),
    ("doc.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n", "not_an_image"),
    ("drawing.eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n", "unsupported_format"),
])
def test_not_an_image_or_disallowed_format_is_415(client, name, data, code):
    message = _error(client.post("/v1/predict", files={"file": (name, data, "image/png")}), 415, code)
    assert message.startswith(name)
    _good(client)


def test_truncated_and_empty_images_are_400(client):
    whole = jpeg_bytes(Image.new("RGB", (64, 64), (10, 200, 30)))
    _error(client.post("/v1/predict", files={"file": ("cut.jpg", whole[: len(whole) // 2], "image/jpeg")}),
           400, "corrupt_image")
    _error(client.post("/v1/predict", files={"file": ("zero.jpg", b"", "image/jpeg")}), 400, "empty_image")
    _good(client)


def test_too_many_files_is_400(client):
    files = [("file", (f"{i}.png", _png(seed=i), "image/png")) for i in range(4)]
    assert "limit is 3" in _error(client.post("/v1/predict", files=files), 400, "too_many_files")
    encoded = [base64.b64encode(_png(seed=i)).decode() for i in range(4)]
    _error(client.post("/v1/predict", json={"images": encoded}), 400, "too_many_files")
    _good(client)


def test_malformed_requests_are_4xx(client):
    _error(client.post("/v1/predict", content=b"raw", headers={"content-type": "image/png"}), 415,
           "unsupported_media_type")
    _error(client.post("/v1/predict", content=b"{not json", headers={"content-type": "application/json"}), 400,
           "bad_json")
    _error(client.post("/v1/predict", json={"images": ["%%%"]}), 400, "bad_base64")
    _error(client.post("/v1/predict", json={"picture": "x"}), 400, "bad_json")
    _error(client.post("/v1/predict", files={"note": (None, "text only")}), 400, "no_images")
    _error(client.post("/v1/predict?top_k=0", files={"file": ("a.png", _png(), "image/png")}), 400, "bad_request")
    _error(client.post("/v1/predict?top_k=abc", files={"file": ("a.png", _png(), "image/png")}), 400, "bad_request")
    _error(client.get("/v2/nothing"), 404, "not_found")
    _error(client.get("/v1/predict"), 405, "method_not_allowed")
    _good(client)


def test_model_info_health_and_metrics(client, trained):
    run_dir, _ = trained
    info = client.get("/v1/model").json()
    assert info["labels"] == ["blue", "green", "red"] and info["input_size"] == [24, 24]
    # The default backend serves the run's cached, parity-checked ONNX export (Grad-CAM still works: below)
    assert info["backend"] == "onnx" and info["version"] == visionflow.__version__ and info["explain"] is True
    assert info["artifact"].endswith("export/onnx/model.onnx")
    assert info["sha256"] == hashlib.sha256(Path(info["artifact"]).read_bytes()).hexdigest()
    assert info["limits"]["max_files"] == 3
    assert info["routes"] == ["/v1/predict", "/v1/explain", "/v1/video"]  # what answers this model (the page's footer)
    assert client.get("/healthz").json() == {"status": "alive"}
    assert client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]["requestBody"]
    client.post("/v1/predict", files={"file": ("zero.jpg", b"", "image/jpeg")})
    _good(client)
    text = client.get("/metrics").text
    assert 'visionflow_requests_total{endpoint="/v1/predict",status="200"}' in text
    assert 'visionflow_requests_total{endpoint="/v1/predict",status="400"}' in text
    assert 'visionflow_rejections_total{code="empty_image"}' in text
    assert "visionflow_batch_size_bucket" in text and "visionflow_queue_depth" in text
    assert "visionflow_request_seconds_bucket" in text


def test_routes_of_other_tasks_answer_409_with_their_codes(client):
    """/v1/restore and /v1/generate belong to restoration models and GANs (their task packages
    mount them); a classifier's server refuses them with the code that says so."""
    message = _error(client.post("/v1/restore", files={"file": ("red.png", _png(), "image/png")}), 409,
                     "not_restoration")
    assert "classification model" in message and "/v1/predict" in message
    message = _error(client.post("/v1/generate"), 409, "not_generator")
    assert "GANs" in message
    paths = {route.path for route in client.app.routes}
    assert {"/v1/predict", "/v1/explain", "/v1/video", "/v1/restore", "/v1/generate"} <= paths
    assert "/v1/restore" not in client.get("/openapi.json").json()["paths"]  # not this server's own route


def test_web_page_is_served(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="file"' in page.text and "/v1/predict" in page.text


def test_queue_full_is_503_with_retry_after(trained):
    run_dir, _ = trained
    with TestClient(create_app(run_dir, ServeConfig(max_queue=2))) as c:
        _wait_ready(c)
        files = [("file", (f"{i}.png", _png(seed=i), "image/png")) for i in range(3)]
        response = c.post("/v1/predict", files=files)
        _error(response, 503, "overloaded")
        assert response.headers["retry-after"] == "1"
        assert c.post("/v1/predict", files=files[:2]).status_code == 200


def test_slow_model_times_out_with_504_and_recovers(trained):
    run_dir, _ = trained
    with TestClient(create_app(run_dir, ServeConfig(timeout=0.3))) as c:
        _wait_ready(c)
        batcher = c.app.state.service.batcher
        fast = batcher.predict
        batcher.predict = lambda x: (time.sleep(0.6), fast(x))[1]
        _error(c.post("/v1/predict", files={"file": ("a.png", _png(), "image/png")}), 504, "timeout")
        time.sleep(0.4)  # let the slow call finish
        batcher.predict = fast
        assert c.post("/v1/predict", files={"file": ("a.png", _png(), "image/png")}).status_code == 200


def test_not_ready_until_the_model_is_loaded(trained, monkeypatch):
    from visionflow.serve import app as app_module

    run_dir, _ = trained
    release = threading.Event()
    real = app_module.Service.load

    def slow_load(self):
        release.wait(30)
        real(self)

    monkeypatch.setattr(app_module.Service, "load", slow_load)
    with TestClient(create_app(run_dir)) as c:
        assert c.get("/healthz").status_code == 200
        response = c.get("/readyz")
        _error(response, 503, "not_ready")
        assert response.headers["retry-after"] == "1"
        _error(c.post("/v1/predict", files={"file": ("a.png", _png(), "image/png")}), 503, "not_ready")
        release.set()
        _wait_ready(c)
        assert c.post("/v1/predict", files={"file": ("a.png", _png(), "image/png")}).status_code == 200


def test_explain_returns_the_grad_cam_overlay(client, trained):
    run_dir, _ = trained
    big = io.BytesIO()
    shape_image("green", np.random.default_rng(4), 40).resize((600, 450)).save(big, format="PNG")
    response = client.post("/v1/explain", files={"file": ("g.png", big.getvalue(), "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    predictor = visionflow.load(run_dir)
    expected = predictor.predict(big.getvalue())
    assert body["predicted"] == body["label"] == expected.label
    # The service first shrinks the image for the overlay (to 384 px), then to the model's input:
    # two resizes, so the pixels, and the probability, differ a little from a direct prediction.
    assert body["probability"] == pytest.approx(expected.confidence, abs=5e-3)
    assert body["layer"] == "s4_relu"
    prefix = "data:image/png;base64,"
    assert body["overlay"].startswith(prefix)
    overlay = Image.open(io.BytesIO(base64.b64decode(body["overlay"][len(prefix):])))
    assert overlay.size == (384, 288)  # drawn over the image at up to 384 pixels, aspect kept
    other = next(c for c in predictor.classes if c != expected.label)
    chosen = client.post(f"/v1/explain?class={other}", files={"file": ("g.png", big.getvalue(), "image/png")})
    assert chosen.status_code == 200 and chosen.json()["label"] == other
    assert client.get("/v1/model").json()["explain"] is True


def test_explain_rejects_bad_requests(client):
    _error(client.post("/v1/explain?class=cats", files={"file": ("a.png", _png(), "image/png")}), 400, "unknown_class")
    two = [("file", ("a.png", _png(), "image/png")), ("file", ("b.png", _png(seed=1), "image/png"))]
    _error(client.post("/v1/explain", files=two), 400, "one_image")
    _error(client.post("/v1/explain", files={"file": ("t.png", b"hello there", "image/png")}), 415, "not_an_image")
    _good(client)


def test_onnx_backend_exports_once_and_agrees_with_keras(trained, tmp_path):
    run_dir, _ = trained
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    with TestClient(create_app(run, ServeConfig(backend="onnx"))) as c:
        _wait_ready(c)
        info = c.get("/v1/model").json()
        assert info["backend"] == "onnx" and info["artifact"].endswith("export/onnx/model.onnx")
        got = c.post("/v1/predict", files={"file": ("a.png", _png(), "image/png")}).json()["predictions"][0]
        assert info["explain"] is False
        _error(c.post("/v1/explain", files={"file": ("a.png", _png(), "image/png")}), 409, "explain_unavailable")
    expected = visionflow.load(run_dir).predict(_png())
    assert got["label"] == expected.label and got["confidence"] == pytest.approx(expected.confidence, abs=1e-4)
    exported = (run / "export" / "onnx" / "model.onnx").stat().st_mtime_ns
    with TestClient(create_app(run, ServeConfig(backend="onnx"))) as c:  # up to date: not exported again
        _wait_ready(c)
    assert (run / "export" / "onnx" / "model.onnx").stat().st_mtime_ns == exported
    with TestClient(create_app(run, ServeConfig(backend="keras"))) as c:  # forced: TensorFlow
        _wait_ready(c)
        info = c.get("/v1/model").json()
        assert info["backend"] == "keras" and info["artifact"].endswith("model.keras")
        again = c.post("/v1/predict", files={"file": ("a.png", _png(), "image/png")}).json()["predictions"][0]
        assert again["label"] == got["label"] and again["confidence"] == pytest.approx(got["confidence"], abs=1e-4)


class TestMicroBatcher:
    def _run(self, coro):
        return asyncio.run(coro)

    def test_queued_requests_share_one_call_and_get_their_own_rows(self):
        calls = []

        def predict(x):
            calls.append(len(x))
            return x.reshape(len(x), -1)[:, :1].astype(float)

        async def main():
            b = MicroBatcher(predict, max_batch=8, max_wait=0.05, max_queue=100)
            b.start()
            futures = []
            for i in range(5):
                b.admit(1)
                futures.append(b.enqueue(np.full((1, 2, 2, 3), i, np.uint8)))
            results = await asyncio.gather(*futures)
            await b.stop()
            return results

        results = self._run(main())
        assert calls == [5]
        assert [float(r[0, 0]) for r in results] == [0, 1, 2, 3, 4]

    def test_max_batch_cancelled_requests_and_errors(self):
        calls = []

        def predict(x):
            calls.append(len(x))
            if len(x) == 1:
                raise RuntimeError("model failed")
            return np.zeros((len(x), 1))

        async def main():
            b = MicroBatcher(predict, max_batch=4, max_wait=0.0, max_queue=100)
            b.start()
            futures = []
            for _ in range(7):
                b.admit(1)
                futures.append(b.enqueue(np.zeros((1, 2, 2, 3), np.uint8)))
            futures[6].cancel()  # a request that timed out: dropped from its batch
            ok = await asyncio.gather(*futures[:6])
            b.admit(1)
            failing = b.enqueue(np.zeros((1, 2, 2, 3), np.uint8))
            with pytest.raises(RuntimeError, match="model failed"):
                await failing
            await b.stop()
            return ok

        assert len(self._run(main())) == 6
        assert calls == [4, 2, 1]

    def test_admission_refuses_over_the_queue_limit(self):
        async def main():
            b = MicroBatcher(lambda x: x, max_batch=4, max_wait=0.0, max_queue=3)
            b.start()
            b.admit(3)
            b.enqueue(np.zeros((3, 2, 2, 3), np.uint8))  # queued, not yet taken
            with pytest.raises(ServeError) as info:
                b.admit(1)
            await b.stop()
            return info.value

        error = self._run(main())
        assert error.status == 503 and error.headers == {"Retry-After": "1"}
