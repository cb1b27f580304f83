"""FastAPI dependencies: the engine, limits, chat models and the caller's principal."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import WeaviateUnavailableError
from memos_integrations.llm.registry import ChatModelRegistry
from memos_integrations.server.limits import ServerLimits


def get_engine(request: Request) -> MemoryEngine:
    """The app's engine.

    Raises:
        WeaviateUnavailableError: it is not built yet (start-up) or no longer (shutdown).
    """
    engine: MemoryEngine | None = request.app.state.engine
    if engine is None:
        raise WeaviateUnavailableError("the memory engine is not ready (Weaviate is starting or unreachable)")
    return engine


def get_limits(request: Request) -> ServerLimits:
    return request.app.state.limits  # type: ignore[no-any-return]


def get_chat_models(request: Request) -> ChatModelRegistry:
    return request.app.state.chat_models  # type: ignore[no-any-return]


def resolve_chat_model(registry: ChatModelRegistry, name: str | None, *, temperature: float | None = None,
                       max_tokens: int | None = None, top_p: float | None = None) -> Any:
    """The chat model ``name`` (default: the first configured) with the sampling parameters bound.

    No model configured -> ConfigurationError saying how to set ``CHAT_MODEL_LIST``; an unknown
    name -> ModelNotFoundError (400) listing the known names.
    """
    overrides = {k: v for k, v in {"temperature": temperature, "max_tokens": max_tokens, "top_p": top_p}.items()
                 if v is not None}
    if not registry:
        registry.default()  # raises ConfigurationError with the how-to
    return registry.get(name, **overrides)
