"""LlamaIndex :class:`~llama_index.core.llms.ChatMessage` <-> engine :class:`ChatMessage`."""

from __future__ import annotations

from collections.abc import Sequence

from llama_index.core.base.llms.types import ChatMessage as LlamaChatMessage
from llama_index.core.base.llms.types import ToolCallBlock

from memos_integrations.domain.requests import ChatMessage

_ROLES = {"chatbot": "assistant", "model": "assistant"}


def role_of(message: LlamaChatMessage) -> str:
    role = message.role.value if hasattr(message.role, "value") else str(message.role)
    return _ROLES.get(role, role)


def text_of(message: LlamaChatMessage | str | None) -> str:
    if message is None:
        return ""
    if isinstance(message, str):
        return message
    return message.content or ""


def calls_tools(message: LlamaChatMessage) -> bool:
    """True when an assistant message asks for tool calls (so the turn is not over yet)."""
    if message.additional_kwargs.get("tool_calls"):
        return True
    return any(isinstance(block, ToolCallBlock) for block in message.blocks)


def last_user_text(messages: Sequence[LlamaChatMessage]) -> str:
    for message in reversed(messages):
        if role_of(message) == "user" and text_of(message).strip():
            return text_of(message)
    return ""


def to_chat_messages(messages: Sequence[LlamaChatMessage], *, include_tools: bool = False) -> list[ChatMessage]:
    """The user/assistant text of LlamaIndex messages (tool results too with ``include_tools``)."""
    out = []
    for message in messages:
        role = role_of(message)
        if role in ("system", "developer") or (role in ("tool", "function") and not include_tools):
            continue
        text = text_of(message).strip()
        if not text:
            continue
        out.append(ChatMessage(role=role if role in ("user", "assistant", "tool", "function") else "user",
                               content=text))
    return out
