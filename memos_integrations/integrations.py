"""Shared plumbing of the framework faces (LangChain, LlamaIndex): the backend protocol, the recall
options every retriever/memory exposes as fields, identity resolution and result conversion.

Faces are thin: they translate framework types to :class:`RecallRequest` / :class:`MemorizeRequest`
and back. Anything with ``recall`` / ``arecall`` / ``memorize`` / ``amemorize`` returning the engine's
result types (the local :class:`~memos_integrations.engine.MemoryEngine` or a remote client)
can be passed where an ``engine`` is expected.

Example::

    options = RecallOptions(top_k=5, relativity=0.3)
    request = options.to_request("Where do I live?", user_id="alice")
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import AfterValidator, ConfigDict

from memos_integrations.domain.requests import (
    ChatMessage,
    MemorizeRequest,
    MemorizeResult,
    RecallItem,
    RecallRequest,
    RecallResult,
)
from memos_integrations.domain.requests import RecallOptions as CoreRecallOptions
from memos_integrations.errors import ConfigurationError, InvalidRequestError

#: Keys read from a run's ``config["configurable"]`` (LangChain) for the memory owner and conversation.
USER_KEYS = ("user_id",)
SESSION_KEYS = ("session_id", "thread_id")
CUBE_KEYS = ("cube_ids",)


@runtime_checkable
class MemoryBackend(Protocol):
    """What the faces need from an engine: the local ``MemoryEngine`` or a remote client.

    Sync-only clients (``recall`` + ``memorize``) and async-only clients (``arecall`` +
    ``amemorize``) are accepted too: async paths run sync methods in a thread; sync paths on an
    async-only client raise :class:`ConfigurationError`.
    """

    def recall(self, request: RecallRequest | dict[str, Any]) -> RecallResult: ...

    async def arecall(self, request: RecallRequest | dict[str, Any]) -> RecallResult: ...

    def memorize(self, request: MemorizeRequest | dict[str, Any], *, sync: bool = True) -> MemorizeResult: ...

    async def amemorize(self, request: MemorizeRequest | dict[str, Any], *, sync: bool = True) -> MemorizeResult: ...


def check_backend(backend: Any) -> Any:
    """``backend`` if it can recall and memorize (sync or async), else a :class:`ConfigurationError`."""
    can_recall = callable(getattr(backend, "recall", None)) or callable(getattr(backend, "arecall", None))
    can_memorize = callable(getattr(backend, "memorize", None)) or callable(getattr(backend, "amemorize", None))
    if backend is None or not (can_recall and can_memorize):
        raise ConfigurationError(
            f"engine must be a MemoryEngine or a client with recall/arecall and memorize/amemorize; "
            f"got {type(backend).__name__}")
    return backend


#: Pydantic field type of an ``engine`` (validated with :func:`check_backend`).
BackendField = Annotated[Any, AfterValidator(check_backend)]


def _sync_method(backend: Any, name: str) -> Any:
    method = getattr(backend, name, None)
    if not callable(method):
        raise ConfigurationError(
            f"{type(backend).__name__} has no sync {name}(); use the async API (ainvoke / aretrieve / achat) "
            "or pass a sync client")
    return method


def backend_recall(backend: Any, request: RecallRequest) -> RecallResult:
    return _sync_method(backend, "recall")(request)  # type: ignore[no-any-return]


def backend_memorize(backend: Any, request: MemorizeRequest, *, sync: bool = True) -> MemorizeResult:
    return _sync_method(backend, "memorize")(request, sync=sync)  # type: ignore[no-any-return]


async def backend_arecall(backend: Any, request: RecallRequest) -> RecallResult:
    if callable(getattr(backend, "arecall", None)):
        return await backend.arecall(request)  # type: ignore[no-any-return]
    return await asyncio.to_thread(_sync_method(backend, "recall"), request)  # type: ignore[no-any-return]


async def backend_amemorize(backend: Any, request: MemorizeRequest, *, sync: bool = True) -> MemorizeResult:
    if callable(getattr(backend, "amemorize", None)):
        return await backend.amemorize(request, sync=sync)  # type: ignore[no-any-return]
    return await asyncio.to_thread(_sync_method(backend, "memorize"), request, sync=sync)  # type: ignore[no-any-return]


class RecallOptions(CoreRecallOptions):
    """Every :class:`RecallRequest` option except the query and the owner (``user_id``).

    Mixed into the retrievers and memories so each option is a field (``top_k``, ``relativity``,
    ``memory_types``, ``filter`` ...). Defaults are the engine's defaults.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    def recall_options(self) -> dict[str, Any]:
        """The option values (only :class:`RecallOptions` fields, never the subclass's own fields)."""
        return {name: getattr(self, name) for name in RecallOptions.model_fields}

    def to_request(
        self,
        query: str,
        *,
        user_id: str,
        session_id: str | None = None,
        cube_ids: Sequence[str] | None = None,
        chat_history: Sequence[ChatMessage] | None = None,
    ) -> RecallRequest:
        """A validated :class:`RecallRequest` for ``query`` (per-call ids override the fields)."""
        values = self.recall_options()
        if session_id is not None:
            values["session_id"] = session_id
        if cube_ids is not None:
            values["cube_ids"] = list(cube_ids)
        try:
            return RecallRequest(query=query, user_id=user_id, chat_history=list(chat_history or []) or None,
                                 **values)
        except ValueError as exc:
            raise InvalidRequestError(f"invalid recall request: {exc}") from exc


#: Fields of RecallRequest that are not options (given per call).
NON_OPTION_FIELDS = frozenset({"query", "user_id", "chat_history"})


def require_user(user_id: str | None, where: str) -> str:
    """The user id, or an :class:`InvalidRequestError` saying how to pass one."""
    if not user_id:
        raise InvalidRequestError(
            f"{where} needs a user_id: pass user_id=... when creating it, or run it with "
            "config={'configurable': {'user_id': '...'}}"
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
    """A memorize request for the messages worth keeping (None when nothing has text)."""
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
    "MemoryBackend",
    "RecallOptions",
    "has_memories",
    "identity_from_configurable",
    "item_metadata",
    "memorize_request",
    "ranked_items",
    "require_user",
]
