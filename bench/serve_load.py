"""`make bench-serve`: load on loopback against a naive one-request-one-predict app and
`visionflow serve` (forced to TensorFlow with --backend keras, and with no flag: the default, ONNX
Runtime through the run's cached export), at 1, 4, 16 and 64 concurrent clients.

The model is the tutorial CNN (`seed_cnn`) at 150x150 with two classes; weights are random
(speed does not depend on them). Each client posts one 500x375 JPEG per request, as multipart,
and sends the next request when the answer arrives. Each level is bounded in requests and time.
Reports req/s, p50/p99 latency, errors by status (500s counted apart) and each server's peak RSS.
Writes bench/results/serve.{md,json}.

Usage: python bench/serve_load.py [--levels 1,4,16,64] [--seconds 12] [--requests 600]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from common import ROOT, dataset, machine_info  # noqa: E402

PY = sys.executable


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make_run(folder: Path) -> Path:
    import keras

    from visionflow.models import build_model
    from visionflow.rundir import save_model, write_json

    keras.utils.set_random_seed(0)
    run = folder / "run"
    save_model(build_model("seed_cnn", (150, 150), 2), run / "model.keras")
    write_json(run / "labels.json", {"classes": ["cats", "dogs"], "image_size": [150, 150], "model": "seed_cnn"})
    return run


def _image() -> bytes:
    from PIL import Image

    data = dataset("hymenoptera")
    if data is not None:
        for path in sorted(data.rglob("*.jpg")):
            img = Image.open(path)
            if img.size == (500, 375):
                return path.read_bytes()
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (375, 500, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _request_bytes(port: int, image: bytes) -> bytes:
    """One keep-alive multipart POST, built once: the load generator then only writes and reads bytes."""
    boundary = "visionflowbench"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + image + f"\r\n--{boundary}--\r\n".encode()
    head = (f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: multipart/form-data; "
            f"boundary={boundary}\r\nContent-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n").encode()
    return head + body


async def _exchange(reader, writer, request: bytes) -> int:
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def _load(port: int, image: bytes, clients: int, seconds: float, requests: int) -> dict:
    """A closed-loop load: `clients` keep-alive connections, each sending its next request when the
    answer arrives. Raw asyncio streams, so that the generator itself costs little CPU."""
    request = _request_bytes(port, image)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    sent = 0
    end = time.perf_counter() + seconds

    async def client():
        nonlocal sent
        reader = writer = None
        while sent < requests and time.perf_counter() < end:
            sent += 1
            t0 = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                code = str(await _exchange(reader, writer, request))
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                code = type(exc).__name__
                if writer is not None:
                    writer.close()
                reader = writer = None
            latencies.append((time.perf_counter() - t0) * 1000)
            statuses[code] = statuses.get(code, 0) + 1
        if writer is not None:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - t0
    ok = statuses.get("200", 0)
    return {"clients": clients, "requests": len(latencies), "ok": ok, "wall_s": round(wall, 2),
            "req_per_s": round(ok / wall, 1), "p50_ms": round(float(np.percentile(latencies, 50)), 1),
            "p99_ms": round(float(np.percentile(latencies, 99)), 1), "statuses": statuses,
            "errors_500": sum(v for k, v in statuses.items() if k.startswith("5") and k != "503"),
            "shed_503": statuses.get("503", 0)}


def _wait(url: str, proc: subprocess.Popen, seconds: float = 180) -> None:
    import httpx

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server not ready")


def _bench_server(name: str, cmd: list[str], port: int, image: bytes, args) -> dict:
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        _wait(url, proc)
        asyncio.run(_load(port, image, 4, 2.0, 40))  # warm-up, not reported
        levels = []
        for clients in args.levels:
            row = asyncio.run(_load(port, image, clients, args.seconds, args.requests))
            print(f"  {name:<14} {clients:>3} clients  {row['req_per_s']:>7.1f} req/s  p50 {row['p50_ms']:>7.1f} ms  "
                  f"p99 {row['p99_ms']:>7.1f} ms  statuses {row['statuses']}", flush=True)
            levels.append(row)
        rss = _peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(60)
    return {"server": name, "peak_rss_mb": round(rss, 0), "levels": levels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,4,16,64", type=lambda s: [int(v) for v in s.split(",")])
    parser.add_argument("--seconds", type=float, default=12.0, help="Most seconds per level (default: 12).")
    parser.add_argument("--requests", type=int, default=600, help="Most requests per level (default: 600).")
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    args = parser.parse_args()

    image = _image()
    with tempfile.TemporaryDirectory(prefix="vf-serve-bench-") as tmp:
        run = _make_run(Path(tmp))
        # Exported up front, so that the default server's figures are serving only (not the conversion).
        subprocess.run([PY, "-m", "visionflow", "export", str(run), "--format", "onnx", "--samples", "16"],
                       check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        servers = [
            ("naive", lambda p: [PY, str(ROOT / "bench" / "naive_app.py"), str(run), str(p)]),
            ("visionflow --backend keras", lambda p: [PY, "-m", "visionflow", "serve", str(run), "--port", str(p),
                                                      "--backend", "keras", "--max-wait-ms", str(args.max_wait_ms)]),
            ("visionflow, default (auto: onnx)", lambda p: [PY, "-m", "visionflow", "serve", str(run), "--port",
                                                            str(p), "--max-wait-ms", str(args.max_wait_ms)]),
        ]
        results = []
        for name, cmd in servers:
            port = _port()
            results.append(_bench_server(name, cmd(port), port, image, args))

    naive = {row["clients"]: row for row in results[0]["levels"]}
    lines = ["| server | clients | req/s | x naive | p50 ms | p99 ms | 500s | 503 shed | other errors | peak RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        for row in res["levels"]:
            base = naive.get(row["clients"], {}).get("req_per_s") or float("nan")
            other = row["requests"] - row["ok"] - row["errors_500"] - row["shed_503"]
            lines.append(f"| {res['server']} | {row['clients']} | {row['req_per_s']} | {row['req_per_s'] / base:.2f} | "
                         f"{row['p50_ms']} | {row['p99_ms']} | {row['errors_500']} | {row['shed_503']} | {other} | "
                         f"{res['peak_rss_mb']:.0f} |")
    info = machine_info()
    header = (f"Machine: {info['cpu']}, {info['cores']} cores ({info['cpu_flags']}); TF {info['tensorflow']}, "
              f"Keras {info['keras']}. Model: seed_cnn 150x150, one 500x375 JPEG per request; load generator "
              f"(raw asyncio keep-alive connections) on the same machine; each level at most {args.seconds:g} s / {args.requests} requests.")
    table = header + "\n\n" + "\n".join(lines) + "\n"
    print("\n" + table)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "serve.md").write_text(table)
    (out / "serve.json").write_text(json.dumps({"machine": info, "settings": vars(args), "results": results},
                                               indent=2) + "\n")


if __name__ == "__main__":
    main()
