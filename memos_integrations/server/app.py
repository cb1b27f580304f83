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

from fastapi import FastAPI

from memos_integrations.config import Settings, get_settings
from memos_integrations.engine import MemoryEngine
from memos_integrations.llm.registry import ChatModelRegistry
from memos_integrations.server.errors import CLOUD_PREFIX, BodySizeLimitMiddleware, install_error_handlers
from memos_integrations.server.limits import ServerLimits
from memos_integrations.server.routers import cloud, memnet, product

logger = logging.getLogger("memos_integrations.server")

TITLE = "MemOS Server REST APIs"
VERSION = "1.0.1"


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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.engine is None:
            app.state.engine = MemoryEngine.from_settings(settings)
        if not settings.api_keys:
            logger.warning("MEMOS_API_KEYS is not set: the API is open to anyone who can reach it "
                           "(serve only binds loopback in this mode)")
        try:
            yield
        finally:
            if owned and app.state.engine is not None:
                app.state.engine.close()
                app.state.engine = None

    app = FastAPI(title=TITLE, version=VERSION, lifespan=lifespan,
                  description="MemOS (open-source and cloud) and MemnetAI compatible memory API over Weaviate.")
    app.state.engine = engine
    app.state.settings = settings
    app.state.limits = limits
    app.state.api_keys = settings.api_keys
    app.state.chat_models = chat_models if chat_models is not None else ChatModelRegistry(settings.chat_model_list)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=limits.max_body_bytes)
    app.include_router(product.health_router)
    app.include_router(product.router)
    app.include_router(cloud.router, prefix=cloud_prefix)
    app.include_router(memnet.router)
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
