"""`visionflow serve`: an HTTP service for a trained or exported model (FastAPI + uvicorn)."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

from visionflow.errors import ModelError
from visionflow.serve.settings import ServeConfig


def serve(run: str | Path, cfg: ServeConfig | None = None) -> int:
    """Runs the service until SIGINT/SIGTERM: it then stops accepting connections, finishes the
    requests in flight and returns 0; it returns 1 when the model fails to load.

    Raises:
        ModelError: `run` holds no model, or the serve extra is not installed.
    """
    from visionflow.serve.model import check_source

    cfg = cfg or ServeConfig()
    check_source(run)
    try:
        import uvicorn

        from visionflow.serve.app import create_app
    except ImportError as exc:
        raise ModelError(f"Serving needs the '{exc.name}' package: pip install 'visionflow[serve]'.") from None

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    failure: list[str] = []
    server: uvicorn.Server | None = None

    def on_fatal(message: str) -> None:
        failure.append(message)
        logging.getLogger("visionflow.serve").error("cannot serve: %s", message)
        if server is not None:
            server.should_exit = True

    app = create_app(run, cfg, on_fatal=on_fatal)
    config = uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level="info" if cfg.access_log else "warning",
                            access_log=cfg.access_log, timeout_graceful_shutdown=int(cfg.timeout) + 1,
                            limit_concurrency=cfg.max_queue * 4)
    server = uvicorn.Server(config)
    logging.getLogger("visionflow.serve").info(
        "serving %s on http://%s:%d (web page at /, API docs at /docs); Ctrl-C or SIGTERM stops it",
        run, cfg.host, cfg.port)
    # uvicorn handles SIGTERM itself (stop accepting, finish in-flight requests), then re-raises it
    # for the handler that was installed before: this one turns it into a normal exit 0.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        server.run()
    except SystemExit:  # uvicorn exits this way when it cannot bind
        server.started = False
    finally:
        signal.signal(signal.SIGTERM, previous)
    if failure:
        return 1
    if not server.started:
        raise ModelError(f"Could not listen on {cfg.host}:{cfg.port}: the port is in use or the address is not "
                         f"this machine's; pick another --port or --host.")
    return 0


__all__ = ["ServeConfig", "serve"]
