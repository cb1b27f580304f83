"""The ASGI app: MemOS open-source (``/product``), MemOS cloud (``/api/openmem/v1``) and MemnetAI
(``/v1``, ``/memories/task``) APIs over one :class:`~memos_integrations.engine.MemoryEngine`.

Example::

    from memos_integrations.server.app import create_app
    app = create_app(engine)            # caller-owned engine (tests, embedding in another app)
    # or: uvicorn memos_integrations.server.app:app   (engine built from the environment at start)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from memos_integrations.config import Settings, get_settings
from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import AuthenticationError, WeaviateUnavailableError
from memos_integrations.llm.registry import ChatModelRegistry
from memos_integrations.mcp.http import mount_mcp
from memos_integrations.pipeline.extract import configure_model_calls
from memos_integrations.server.auth import principal_for
from memos_integrations.server.errors import (
    CLOUD_PREFIX,
    BodySizeLimitMiddleware,
    error_response,
    install_error_handlers,
)
from memos_integrations.server.limits import ServerLimits
from memos_integrations.server.metrics import install_metrics
from memos_integrations.server.routers import cloud, memnet, product
from memos_integrations.server.run import watch_supervisor

logger = logging.getLogger("memos_integrations.server")

TITLE = "MemOS Server REST APIs"
VERSION = "1.0.1"


#: Paths of the interactive docs and the schema: they need a key like every route when keys are set.
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/metrics"})


class DocsAuthMiddleware:
    """``/docs``, ``/redoc``, ``/openapi.json`` and ``/metrics`` answer 401 without a valid key
    when ``MEMOS_API_KEYS`` is set (the schema lists every route and field of the deployment)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") in DOCS_PATHS:
            request = Request(scope)
            try:
                principal_for(request.app.state.api_keys, request.headers.get("authorization"))
            except AuthenticationError as exc:
                response = error_response(scope["path"], 401, exc.message)
                response.headers["WWW-Authenticate"] = "Token"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class HealthStatus(BaseModel):
    """Liveness or readiness of the server."""

    status: str
    service: str = "memos"
    version: str = VERSION
    weaviate: str = "ok"


health_router = APIRouter(tags=["health"])


@health_router.get("/health/live", response_model=HealthStatus)
def live() -> HealthStatus:
    """Liveness: the process answers (never touches Weaviate; restart the process only if this fails)."""
    return HealthStatus(status="alive", weaviate="not checked")


@health_router.get("/health/ready", response_model=HealthStatus,
                   responses={503: {"description": "Weaviate is unreachable or not ready"}})
def ready(request: Request) -> HealthStatus:
    """Readiness: Weaviate answers within ``MEMOS_WEAVIATE_PROBE_TIMEOUT`` seconds (else 503 with
    the reason; take the instance out of rotation until it is ready again)."""
    engine: MemoryEngine | None = request.app.state.engine
    if engine is None:
        raise WeaviateUnavailableError("not ready: the memory engine is starting or stopping")
    problem = engine.readiness()
    if problem is not None:
        raise WeaviateUnavailableError(f"not ready: {problem}")
    return HealthStatus(status="ready")


def create_app(
    engine: MemoryEngine | None = None,
    settings: Settings | None = None,
    *,
    chat_models: ChatModelRegistry | None = None,
    limits: ServerLimits | None = None,
    cloud_prefix: str = CLOUD_PREFIX,
) -> FastAPI:
    """Build the app.

    ``engine``: a ready MemoryEngine (the caller owns and closes it); ``None`` builds one from
    ``settings`` when the app starts (embedded Weaviate or ``WEAVIATE_URL``) and closes it at
    shutdown. ``settings`` default to the engine's (else the environment's). ``chat_models`` defaults to ``CHAT_MODEL_LIST``; ``limits`` to the environment.
    """
    settings = settings or (engine.settings if engine is not None else get_settings())
    limits = limits or ServerLimits()
    owned = engine is None

    configure_model_calls(settings.model_timeout, settings.model_max_concurrency)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.engine is None:
            app.state.engine = MemoryEngine.from_settings(settings)
            app.state.engine.observers.append(app.state.metrics.observe_operation)
        watch_supervisor()  # a --workers N worker stops when its supervisor is killed
        if not settings.api_keys:
            logger.warning("MEMOS_API_KEYS is not set: the API is open to anyone who can reach it "
                           "(serve only binds loopback in this mode)")
        try:
            yield
        finally:
            if owned and app.state.engine is not None:
                # graceful shutdown: uvicorn has drained in-flight requests; running tasks go back
                # to waiting so another process (or the next start) re-runs them at once
                app.state.engine.shutdown(hand_back=True)
                app.state.engine = None

    app = FastAPI(title=TITLE, version=VERSION, lifespan=lifespan,
                  description="MemOS (open-source and cloud) and MemnetAI compatible memory API over Weaviate.")
    app.state.engine = engine
    app.state.settings = settings
    app.state.limits = limits
    app.state.api_keys = settings.api_keys
    app.state.chat_models = (chat_models if chat_models is not None
                             else ChatModelRegistry(settings.chat_model_list, timeout=settings.model_timeout))
    install_error_handlers(app)
    install_metrics(app, engine, task_counts=lambda: app.state.engine.task_counts() if app.state.engine else {})
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=limits.max_body_bytes)
    app.add_middleware(DocsAuthMiddleware)
    app.include_router(health_router)
    app.include_router(product.health_router)
    app.include_router(product.router)
    app.include_router(cloud.router, prefix=cloud_prefix)
    app.include_router(memnet.router)
    from memos_integrations.server.ui import router as ui_router  # the memory inspector at /ui

    app.include_router(ui_router)
    mount_mcp(app)  # MCP over streamable HTTP at /mcp (memos_integrations/mcp)
    return app


_app: FastAPI | None = None


def get_app() -> FastAPI:
    """The module-level app (built on first use, engine from the environment at start-up)."""
    global _app
    if _app is None:
        _app = create_app()
    return _app


def __getattr__(name: str) -> Any:
    if name == "app":
        return get_app()
    raise AttributeError(name)
