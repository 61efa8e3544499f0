"""`visionflow launch`: N local worker processes for multi-worker training, with TF_CONFIG made up.

Each worker runs `python -m visionflow train ... --distributed` with a TF_CONFIG listing every
worker on a free 127.0.0.1 port. Worker 0 (the chief) prints to this console; the others write
logs to a temporary folder, shown when they fail. When any worker fails, the rest are stopped, so
the run fails clearly instead of waiting on a worker that is gone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from visionflow.errors import ConfigError

STOP_GRACE_S = 10.0


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1 (held open together, so they differ)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports: list[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    end = time.monotonic() + STOP_GRACE_S
    for p in procs:
        try:
            p.wait(max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def launch(command: list[str], workers: int = 2) -> int:
    """Runs `visionflow <command> --distributed` as `workers` local processes; returns the exit code.

    Raises:
        ConfigError: fewer than 1 worker, or a command other than train.
    """
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1. Received: {workers}")
    if not command or command[0] != "train":
        raise ConfigError("launch runs training: visionflow launch --workers 2 -- train DIR [flags]. "
                          f"Received: {' '.join(command) or 'nothing'}")
    if "--distributed" not in command:
        command = [*command, "--distributed"]
    ports = free_ports(workers)
    logs = Path(tempfile.mkdtemp(prefix="visionflow-launch-"))
    procs: list[subprocess.Popen] = []
    files = []
    print(f"launch: {workers} workers on 127.0.0.1 ports {', '.join(map(str, ports))}; worker logs in {logs}",
          flush=True)
    try:
        for i in range(workers):
            env = {**os.environ, "TF_CONFIG": tf_config(ports, i)}
            out = None
            if i > 0:
                out = open(logs / f"worker{i}.log", "w")
                files.append(out)
            procs.append(subprocess.Popen([sys.executable, "-m", "visionflow", *command], env=env,
                                          stdout=out, stderr=subprocess.STDOUT if out else None))
        while True:
            codes = [p.poll() for p in procs]
            failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                i, code = failed[0]
                _stop(procs)
                print(f"launch: worker {i} failed (exit code {code}); stopped the others.", file=sys.stderr)
                if i > 0:
                    tail = (logs / f"worker{i}.log").read_text(errors="replace").strip().splitlines()[-15:]
                    print("\n".join(f"  worker {i}: {line}" for line in tail), file=sys.stderr)
                return code if code > 0 else 1
            if all(c == 0 for c in codes):
                for f in files:
                    f.close()
                shutil.rmtree(logs, ignore_errors=True)
                return 0
            time.sleep(0.2)
    except KeyboardInterrupt:
        _stop(procs)
        print("launch: interrupted; stopped every worker", file=sys.stderr)
        return 130
    finally:
        for f in files:
            f.close()
