"""Operations: Prometheus metrics at ``/metrics`` and a request id on every request and log line.

Metrics (prometheus-client, one registry per app):

* ``memos_http_requests_total{method,route,status}`` and ``memos_http_request_seconds{method,route}``
  (the route template, e.g. ``/product/get_memory/{memory_id}``, so ids do not explode the labels);
* ``memos_operations_total{operation,outcome}`` and ``memos_operation_seconds{operation}`` for the
  engine's ``recall`` / ``memorize`` / ``submit`` (outcome ``ok`` or the error type), whatever face
  called them;
* ``memos_llm_calls_total{operation}`` and ``memos_llm_errors_total{operation}``;
* ``memos_tasks{status}`` (durable tasks waiting / in progress / failed, read at scrape time).

Every response carries ``X-Request-ID`` (the caller's, when it sends one, else a new one), and
log records written while serving it get a ``request_id`` attribute (``%(request_id)s`` in a
log format); :func:`request_id` reads it anywhere.
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["Metrics", "install_metrics", "request_id"]

_REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("memos_request_id", default="-")
_LLM_ERRORS = frozenset({"ModelUnavailableError", "ExtractionError"})
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def request_id() -> str:
    """The id of the request being served (``-`` outside a request)."""
    return _REQUEST_ID.get()


def _install_record_factory() -> None:
    """Every log record gets ``request_id`` (installed once per process, wrapping the current factory)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "_memos_request_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        record.request_id = _REQUEST_ID.get()
        return record

    factory._memos_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class Metrics:
    """The app's Prometheus registry and metric families."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("memos_http_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("memos_http_request_seconds", "HTTP request latency", ["method", "route"],
                                 buckets=_BUCKETS, registry=self.registry)
        self.operations = Counter("memos_operations", "engine operations", ["operation", "outcome"],
                                  registry=self.registry)
        self.operation_latency = Histogram("memos_operation_seconds", "engine operation latency", ["operation"],
                                           buckets=_BUCKETS, registry=self.registry)
        self.llm_calls = Counter("memos_llm_calls", "chat model calls", ["operation"], registry=self.registry)
        self.llm_errors = Counter("memos_llm_errors", "chat model failures", ["operation"], registry=self.registry)
        self.tasks = Gauge("memos_tasks", "durable tasks by status", ["status"], registry=self.registry)

    def observe_operation(self, operation: str, seconds: float, outcome: dict[str, Any]) -> None:
        """An engine observer (see ``MemoryEngine.observers``)."""
        error = outcome.get("error")
        self.operations.labels(operation, error or "ok").inc()
        self.operation_latency.labels(operation).observe(seconds)
        if outcome.get("llm_calls"):
            self.llm_calls.labels(operation).inc(outcome["llm_calls"])
        if error in _LLM_ERRORS:
            self.llm_errors.labels(operation).inc()

    def render(self, task_counts: Callable[[], dict[str, int]] | None = None) -> bytes:
        if task_counts is not None:
            try:
                for status, count in task_counts().items():
                    self.tasks.labels(status).set(count)
            except Exception:
                logging.getLogger(__name__).warning("task counts unavailable for /metrics", exc_info=True)
        return generate_latest(self.registry)


def _route_of(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", None) or "unmatched")


def install_metrics(app: FastAPI, engine: Any, *, task_counts: Callable[[], dict[str, int]] | None = None) -> Metrics:
    """Add the request-id / metrics middleware and ``GET /metrics`` to ``app``; observe ``engine``."""
    metrics = Metrics()
    access = logging.getLogger("memos_integrations.access")  # one structured line per request (server/logs.py)
    if engine is not None:
        engine.observers.append(metrics.observe_operation)
    _install_record_factory()

    @app.middleware("http")
    async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        token = _REQUEST_ID.set(rid[:128])
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["X-Request-ID"] = _REQUEST_ID.get()
            return response
        finally:
            route = _route_of(request)
            seconds = time.perf_counter() - started
            metrics.requests.labels(request.method, route, str(status)).inc()
            metrics.latency.labels(request.method, route).observe(seconds)
            if access.isEnabledFor(logging.INFO):
                access.info("%s %s %d", request.method, request.url.path, status,
                            extra={"method": request.method, "route": route, "path": request.url.path,
                                   "status": status, "duration_ms": round(seconds * 1000, 1)})
            _REQUEST_ID.reset(token)

    @app.get("/metrics", include_in_schema=False)
    def _metrics() -> Response:
        return Response(metrics.render(task_counts), media_type=CONTENT_TYPE_LATEST)

    app.state.metrics = metrics
    return metrics
