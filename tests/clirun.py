"""`visionflow` commands run in this process: what a subprocess gives (exit code, standard output,
standard error), without starting Python and importing TensorFlow again for every command.

Tests that are about the process itself (the console entry point, `launch`, `serve`, signals) keep
a real subprocess; `entry_point` runs one.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import traceback


def vf(*args, cwd=None, env: dict | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
    """`visionflow ARGS` in this process (in `cwd`, with `env` added to the environment): exit
    code, stdout and stderr as a subprocess would give them. An exception that escapes the
    command is printed as Python would print it, with exit code 1 (`timeout` is ignored: kept so
    calls read like subprocess.run)."""
    from visionflow.cli import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in (env or {})}
    here = os.getcwd()
    try:
        os.environ.update({k: str(v) for k, v in (env or {}).items()})
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: --help, a bad flag
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:  # noqa: BLE001 - what the interpreter prints before exiting with 1
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(here)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return subprocess.CompletedProcess(["visionflow", *argv], code, out.getvalue(), err.getvalue())


def entry_point(*args, cwd=None, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m visionflow ARGS` in a new process."""
    return subprocess.run([sys.executable, "-m", "visionflow", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}, timeout=timeout)
