"""Prometheus metrics of the service (prometheus_client), on a registry of its own per app."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    """Request counts by status, latency, batch sizes, queue depth and rejections."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("visionflow_requests", "HTTP requests by endpoint and status code.",
                                ["endpoint", "status"], registry=r)
        self.latency = Histogram("visionflow_request_seconds", "Time from request to response, by endpoint.",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("visionflow_batch_size", "Images per model call.", buckets=BATCH_BUCKETS,
                                    registry=r)
        self.images = Counter("visionflow_images", "Images predicted.", registry=r)
        self.queue_depth = Gauge("visionflow_queue_depth", "Images waiting for the model.", registry=r)
        self.rejections = Counter("visionflow_rejections", "Requests refused, by error code.", ["code"], registry=r)

    def observe_batch(self, n: int) -> None:
        self.batch_size.observe(n)
        self.images.inc(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware: counts every HTTP response by route and status and times it."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def sending(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            endpoint = _endpoint(scope)
            self.metrics.requests.labels(endpoint, str(status["code"])).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - start)


KNOWN_PATHS = ("/", "/v1/predict", "/v1/model", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json")


def _endpoint(scope) -> str:
    # Label by known path only: arbitrary paths (scanners, typos) must not create unbounded label sets.
    path = scope.get("path", "")
    return path if path in KNOWN_PATHS else "other"
