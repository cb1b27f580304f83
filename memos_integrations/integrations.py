"""What every face shares (LangGraph, LangChain, LlamaIndex): the one backend protocol, the one
sync/async dispatcher, the one ``require_user``, identity from a run config, the memory reminder,
and recall results as framework metadata.

Faces are thin: they translate framework types to :class:`RecallRequest` / :class:`MemorizeRequest`
and back. Anything with ``recall`` / ``arecall`` / ``memorize`` / ``amemorize`` returning the engine's
result types (the local :class:`~memos_integrations.engine.MemoryEngine` or the remote
:class:`~memos_integrations.client.MemosClient` / ``AsyncMemosClient``) can be passed where an
``engine`` is expected. Recall options are :class:`~memos_integrations.domain.requests.RecallOptions`
(re-exported here).

Example::

    options = RecallOptions(top_k=5, relativity=0.3)
    result = backend_recall(engine, options.to_request("Where do I live?", user_id="alice"))
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import AfterValidator

from memos_integrations.domain.requests import (
    NON_OPTION_FIELDS,
    ChatMessage,
    MemorizeRequest,
    MemorizeResult,
    RecallItem,
    RecallOptions,
    RecallRequest,
    RecallResult,
)
from memos_integrations.errors import ConfigurationError, InvalidRequestError
from memos_integrations.pipeline.prompts import REMINDER

#: Keys read from a run's ``config["configurable"]`` (LangChain) for the memory owner and conversation.
USER_KEYS = ("user_id",)
SESSION_KEYS = ("session_id", "thread_id")
CUBE_KEYS = ("cube_ids",)


# ------------------------------------------------------------------------------------------------
# the backend: what a face needs from an engine or a remote client


@runtime_checkable
class MemoryBackend(Protocol):
    """What the faces need from an engine: the local ``MemoryEngine`` or a remote client.

    Sync-only clients (``recall`` + ``memorize``, e.g. ``MemosClient``) and async-only clients
    (``arecall`` + ``amemorize``) are accepted too: async paths run sync methods in a thread; sync
    paths on an async-only client raise :class:`ConfigurationError`.
    """

    def recall(self, request: RecallRequest | dict[str, Any]) -> RecallResult: ...

    async def arecall(self, request: RecallRequest | dict[str, Any]) -> RecallResult: ...

    def memorize(self, request: MemorizeRequest | dict[str, Any], *, sync: bool = True) -> MemorizeResult: ...

    async def amemorize(self, request: MemorizeRequest | dict[str, Any], *, sync: bool = True) -> MemorizeResult: ...


def _method(backend: Any, name: str) -> Callable[..., Any] | None:
    method = getattr(backend, name, None)
    return method if callable(method) else None


def check_backend(backend: Any) -> Any:
    """``backend`` if it can recall and memorize (sync or async).

    Raises:
        ConfigurationError: it can do neither form of one of them.
    """
    can_recall = _method(backend, "recall") or _method(backend, "arecall")
    can_memorize = _method(backend, "memorize") or _method(backend, "amemorize")
    if backend is None or not (can_recall and can_memorize):
        raise ConfigurationError(
            f"engine must be a MemoryEngine or a client with recall/arecall and memorize/amemorize; "
            f"got {type(backend).__name__}")
    return backend


#: Pydantic field type of an ``engine`` (validated with :func:`check_backend`).
BackendField = Annotated[Any, AfterValidator(check_backend)]


# ------------------------------------------------------------------------------------------------
# the one sync/async dispatcher


def _sync_method(backend: Any, name: str) -> Callable[..., Any]:
    method = _method(backend, name)
    if method is None or inspect.iscoroutinefunction(method):
        raise ConfigurationError(
            f"{type(backend).__name__} has no sync {name}(); use the async API (ainvoke / astream / "
            "aretrieve / achat) or pass a sync client")
    return method


async def _call_async(backend: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    method = _method(backend, f"a{name}")
    if method is not None:
        return await method(*args, **kwargs)
    return await asyncio.to_thread(_sync_method(backend, name), *args, **kwargs)


def backend_recall(backend: Any, request: RecallRequest) -> RecallResult:
    """``backend.recall(request)``.

    Raises:
        ConfigurationError: the backend is async-only.
    """
    return _sync_method(backend, "recall")(request)  # type: ignore[no-any-return]


def backend_memorize(backend: Any, request: MemorizeRequest, *, sync: bool = True) -> MemorizeResult:
    """``backend.memorize(request, sync=sync)``.

    Raises:
        ConfigurationError: the backend is async-only.
    """
    return _sync_method(backend, "memorize")(request, sync=sync)  # type: ignore[no-any-return]


async def backend_arecall(backend: Any, request: RecallRequest) -> RecallResult:
    """``backend.arecall(request)``, or its sync ``recall`` in a thread."""
    return await _call_async(backend, "recall", request)  # type: ignore[no-any-return]


async def backend_amemorize(backend: Any, request: MemorizeRequest, *, sync: bool = True) -> MemorizeResult:
    """``backend.amemorize(request, sync=sync)``, or its sync ``memorize`` in a thread."""
    return await _call_async(backend, "memorize", request, sync=sync)  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------------------
# options and identity


def recall_options(options: Mapping[str, Any], where: str) -> RecallOptions:
    """``options`` (keyword arguments of a face) as :class:`RecallOptions`.

    Raises:
        InvalidRequestError: a name that is not a recall option, or a value it cannot take.
    """
    unknown = sorted(set(options) - set(RecallOptions.model_fields))
    if unknown:
        raise InvalidRequestError(
            f"{where}: unknown recall option(s) {unknown}; the options are {sorted(RecallOptions.model_fields)}")
    try:
        return RecallOptions(**options)
    except ValueError as exc:
        raise InvalidRequestError(f"{where}: invalid recall options: {exc}") from exc



def require_user(user_id: str | None, where: str) -> str:
    """The user id.

    Raises:
        InvalidRequestError: there is none; the message says how to pass one.
    """
    if not user_id:
        raise InvalidRequestError(
            f"{where} needs a user_id: pass user_id=... when creating it (or in the graph state / run "
            "context), or run it with config={'configurable': {'user_id': '...'}}"
        )
    return user_id


def identity_from_configurable(configurable: Mapping[str, Any] | None) -> dict[str, Any]:
    """``user_id`` / ``session_id`` / ``cube_ids`` found in a LangChain ``configurable`` mapping.

    ``session_id`` falls back to ``thread_id`` (LangGraph's conversation key).
    """
    found: dict[str, Any] = {}
    if not configurable:
        return found
    for key in USER_KEYS:
        if configurable.get(key):
            found["user_id"] = str(configurable[key])
            break
    for key in SESSION_KEYS:
        if configurable.get(key):
            found["session_id"] = str(configurable[key])
            break
    for key in CUBE_KEYS:
        if configurable.get(key):
            value = configurable[key]
            found["cube_ids"] = [value] if isinstance(value, str) else list(value)
            break
    return found


# ------------------------------------------------------------------------------------------------
# results


def memory_reminder(language: str | None) -> str:
    """MemnetAI's short reminder appended to the latest user message when memories are injected."""
    return REMINDER["zh" if language == "zh" else "en"]


def injected_prompt(result: RecallResult | None) -> str:
    """The memoryPrompt to inject: ``""`` when nothing was recalled."""
    return result.memory_prompt if result is not None and has_memories(result) else ""


def ranked_items(result: RecallResult) -> list[tuple[str, RecallItem]]:
    """Every recalled item with its kind (fact, preference, tool, skill, knowledge), best first."""
    pairs: list[tuple[str, RecallItem]] = []
    for kind, items in (("fact", result.facts), ("preference", result.preferences), ("tool", result.tools),
                        ("skill", result.skills), ("knowledge", result.knowledge)):
        pairs.extend((kind, item) for item in items)
    pairs.sort(key=lambda pair: pair[1].score, reverse=True)
    return pairs


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def item_metadata(kind: str, item: RecallItem) -> dict[str, Any]:
    """Metadata of one recalled memory: id, kind, memory_type, score, relativity, times, status, info."""
    record = item.record
    return {
        "id": record.id,
        "kind": kind,
        "memory_type": record.memory_type.value,
        "score": item.score,
        "relativity": item.relativity,
        "impression": item.impression,
        "status": record.status.value,
        "happened_at": _iso(record.happened_at),
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
        "session_id": record.session_id,
        "cube_id": record.cube_id,
        "user_id": record.user_id,
        "character": record.character,
        "tags": list(record.tags),
        "info": dict(record.info),
        "linked_from": item.linked_from,
    }


def has_memories(result: RecallResult) -> bool:
    return bool(result.facts or result.preferences or result.tools or result.skills or result.knowledge)


def memorize_request(
    messages: Sequence[ChatMessage],
    *,
    user_id: str,
    session_id: str | None = None,
    cube_ids: Sequence[str] | None = None,
    info: Mapping[str, Any] | None = None,
    mode: Literal["auto", "fast", "fine"] = "auto",
    agent_id: str = "",
) -> MemorizeRequest | None:
    """A memorize request for the messages worth keeping (None when nothing has text).

    Raises:
        InvalidRequestError: a value is not valid (e.g. an empty user id).
    """
    kept = [m for m in messages if m.role not in ("system", "developer") and m.text.strip()]
    if not kept:
        return None
    values: dict[str, Any] = {"user_id": user_id, "messages": kept, "info": dict(info or {}), "mode": mode,
                              "agent_id": agent_id}
    if session_id:
        values["session_id"] = session_id
    if cube_ids:
        values["cube_ids"] = list(cube_ids)
    try:
        return MemorizeRequest(**values)
    except ValueError as exc:
        raise InvalidRequestError(f"invalid memorize request: {exc}") from exc


__all__ = [
    "NON_OPTION_FIELDS",
    "BackendField",
    "MemoryBackend",
    "RecallOptions",
    "backend_amemorize",
    "backend_arecall",
    "backend_memorize",
    "backend_recall",
    "check_backend",
    "has_memories",
    "identity_from_configurable",
    "injected_prompt",
    "item_metadata",
    "memorize_request",
    "memory_reminder",
    "ranked_items",
    "recall_options",
    "require_user",
]
