"""A :class:`~langchain_core.chat_history.BaseChatMessageHistory` backed by Weaviate: the raw
messages of one session, kept through the engine's message calls (``add_messages`` /
``list_messages`` / ``delete_messages``: the same rows ``memorize`` keeps).

It needs a local :class:`~memos_integrations.engine.MemoryEngine` (or any object with those three
methods): the HTTP APIs have no call to append raw messages without memorizing them, so the remote
client cannot back it.

For users still on :class:`~langchain_core.runnables.history.RunnableWithMessageHistory`, which is
deprecated since langchain-core 1.3.3 (LangGraph persistence / ``create_agent`` with a checkpointer
is the current way; long-term memory then comes from :class:`MemoryMiddleware`).

Example::

    from langchain_core.runnables.history import RunnableWithMessageHistory

    chain_with_history = RunnableWithMessageHistory(
        chain, lambda session_id: WeaviateChatMessageHistory(engine, user_id="alice", session_id=session_id),
        input_messages_key="question", history_messages_key="history",
    )
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict

from memos_integrations.config import Settings
from memos_integrations.domain.models import MessageRecord, utcnow
from memos_integrations.errors import InvalidRequestError
from memos_integrations.langchain.messages import message_role, to_chat_message

_PAGE = 500
_SEQ_LOCK = threading.Lock()
_last_seq = 0


def _next_seq() -> int:
    """A process-wide strictly increasing sequence number (nanosecond clock based), so messages
    keep their order even when their timestamps tie."""
    global _last_seq
    with _SEQ_LOCK:
        _last_seq = max(_last_seq + 1, time.time_ns())
        return _last_seq


@runtime_checkable
class MessageBackend(Protocol):
    """The engine calls a chat message history needs (:class:`MemoryEngine` has them)."""

    def add_messages(self, messages: Sequence[MessageRecord]) -> None: ...

    def list_messages(self, cube_id: str, session_id: str | None = None, *, user_id: str | None = None,
                      limit: int = 100, offset: int = 0) -> list[MessageRecord]: ...

    def delete_messages(self, cube_id: str, session_id: str | None = None) -> int: ...


def _to_message(record: MessageRecord) -> BaseMessage:
    stored = record.info.get("lc_message")
    if isinstance(stored, dict):
        return messages_from_dict([stored])[0]
    kind = {"user": "human", "assistant": "ai", "system": "system"}.get(record.role, "human")
    return messages_from_dict([{"type": kind, "data": {"content": record.content, "type": kind}}])[0]


class WeaviateChatMessageHistory(BaseChatMessageHistory):
    """The messages of ``session_id`` for ``user_id`` (cube ``cube_id``, default the user's own).

    Messages are kept losslessly (LangChain's message dict in the row's ``info``) and listed oldest
    first. ``clear()`` deletes the session's raw messages, never long-term memories.

    Args:
        engine: a ``MemoryEngine`` (or any :class:`MessageBackend`).
        user_id: the owner.
        session_id: the conversation.
        cube_id: the cube (Weaviate tenant) to write to; default ``user_id``.
        max_messages: return only the latest N messages (``None``: all).

    Raises:
        InvalidRequestError: ``engine`` has no message calls, or an argument is empty or out of range.
    """

    def __init__(self, engine: MessageBackend, *, user_id: str, session_id: str, cube_id: str | None = None,
                 max_messages: int | None = None) -> None:
        if not isinstance(engine, MessageBackend):
            raise InvalidRequestError(
                "WeaviateChatMessageHistory needs a MemoryEngine (add_messages / list_messages / "
                f"delete_messages); got {type(engine).__name__}")
        if not user_id or not session_id:
            raise InvalidRequestError("WeaviateChatMessageHistory needs a non-empty user_id and session_id")
        if max_messages is not None and max_messages < 1:
            raise InvalidRequestError("max_messages must be at least 1 (or None for all)")
        self.engine = engine
        self.user_id = user_id
        self.session_id = session_id
        self.cube_id = cube_id or user_id
        self.max_messages = max_messages

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, prefix: str = "Memos", **kwargs: Any
                      ) -> WeaviateChatMessageHistory:
        """A history over ``MemoryEngine.from_settings(settings, prefix=prefix)`` (schema created)."""
        from memos_integrations.engine import MemoryEngine

        return cls(MemoryEngine.from_settings(settings, prefix=prefix), **kwargs)

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        records: list[MessageRecord] = []
        offset = 0
        while True:
            page = self.engine.list_messages(self.cube_id, self.session_id, user_id=self.user_id, limit=_PAGE,
                                             offset=offset)
            records.extend(page)
            if len(page) < _PAGE:
                break
            offset += _PAGE
        if self.max_messages is not None:
            records = records[-self.max_messages:]
        return [_to_message(r) for r in records]

    async def aget_messages(self) -> list[BaseMessage]:
        return await asyncio.to_thread(lambda: self.messages)

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        now = utcnow()
        rows = [
            MessageRecord(cube_id=self.cube_id, user_id=self.user_id, session_id=self.session_id,
                          role=message_role(m), content=to_chat_message(m).text, character=m.name or "",
                          message_id=m.id or "", seq=_next_seq(), created_at=now,
                          info={"lc_message": message_to_dict(m)})
            for m in messages
        ]
        if rows:
            self.engine.add_messages(rows)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        await asyncio.to_thread(self.add_messages, messages)

    def clear(self) -> None:
        self.engine.delete_messages(self.cube_id, self.session_id)

    async def aclear(self) -> None:
        await asyncio.to_thread(self.clear)
