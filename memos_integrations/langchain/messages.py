"""LangChain messages <-> engine :class:`ChatMessage`, and the memoryPrompt injected into LangChain
message lists (the one :func:`~memos_integrations.domain.messages.inject_memory` logic).

Used by every LangChain-message face: the runnable, the agent middleware and the LangGraph nodes
(and through them the HTTP chat endpoints).

Example::

    from langchain_core.messages import HumanMessage
    to_chat_messages([HumanMessage("I live in Berlin")])  # [ChatMessage(role="user", ...)]
    inject_messages([HumanMessage("Where do I live?")], "# Memories\\n1. Berlin")  # [SystemMessage, HumanMessage]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_messages,
)

from memos_integrations.domain.messages import Placement, inject_memory_into, last_user_text
from memos_integrations.domain.requests import ChatMessage

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "function",
          "developer": "developer", "user": "user", "assistant": "assistant"}
_KNOWN = {"user", "assistant", "system", "tool", "function", "developer"}


def message_role(message: BaseMessage) -> str:
    """The OpenAI role of a LangChain message (``human`` -> ``user``, ``ai`` -> ``assistant``)."""
    kind = str(getattr(message, "role", "user")) if message.type == "chat" else message.type
    role = _ROLES.get(kind, kind)
    return role if role in _KNOWN else "user"


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    """A LangChain tool call as an OpenAI one (the documented MessageList shape)."""
    return {
        "id": call.get("id") or "",
        "type": "function",
        "function": {"name": call.get("name", ""), "arguments": json.dumps(call.get("args") or {}, ensure_ascii=False)},
    }


def to_chat_message(message: BaseMessage) -> ChatMessage:
    """One LangChain message as an engine :class:`ChatMessage`: role, content (as is), name, id,
    tool calls (OpenAI shape) and the tool call id of a tool result."""
    extra: dict[str, Any] = {}
    if isinstance(message, ToolMessage):
        extra["tool_call_id"] = message.tool_call_id
    if isinstance(message, AIMessage) and message.tool_calls:
        extra["tool_calls"] = [_tool_call(dict(call)) for call in message.tool_calls]
    return ChatMessage(role=message_role(message), content=message.content, name=message.name,
                       message_id=message.id, **extra)


def as_chat_messages(messages: Sequence[BaseMessage | Any]) -> list[ChatMessage]:
    """Every message as a :class:`ChatMessage` (anything ``convert_to_messages`` accepts works)."""
    return [to_chat_message(m) for m in convert_to_messages(list(messages))]


def to_chat_messages(messages: Sequence[BaseMessage | Any], *, include_tools: bool = False) -> list[ChatMessage]:
    """Messages worth memorizing: user and assistant text (tool calls and tool results too with
    ``include_tools``), as text; system messages and messages without text are left out."""
    out = []
    for chat in as_chat_messages(messages):
        if chat.role in ("system", "developer"):
            continue
        if chat.role in ("tool", "function") and not include_tools:
            continue
        text = chat.text
        if not text.strip():
            continue  # e.g. an AI message that only calls tools
        update: dict[str, Any] = {"content": text}
        if not include_tools:
            update["tool_calls"] = None
        out.append(chat.model_copy(update=update))
    return out


def last_human_text(messages: Sequence[BaseMessage | Any]) -> str:
    """Text of the latest human message ('' when there is none)."""
    return last_user_text(as_chat_messages(messages))


def _rebuild(injected: ChatMessage, original: BaseMessage | None) -> BaseMessage:
    if original is not None:
        return original.model_copy(update={"content": injected.content})
    if injected.role == "system":
        return SystemMessage(content=injected.content)
    return HumanMessage(content=injected.content)


def inject_messages(
    messages: Sequence[BaseMessage],
    memory_prompt: str,
    *,
    system_prompt: str | None = None,
    reminder: str | None = None,
    placement: Placement = "system",
) -> list[BaseMessage]:
    """The model input of one call with the memoryPrompt injected (see
    :func:`~memos_integrations.domain.messages.inject_memory`). The given messages are not changed,
    so nothing of this is persisted in a graph's state or a chat history."""
    return inject_memory_into(list(messages), memory_prompt, to_chat=to_chat_message, rebuild=_rebuild,
                              system_prompt=system_prompt, reminder=reminder, placement=placement)


__all__ = [
    "as_chat_messages",
    "inject_messages",
    "last_human_text",
    "message_role",
    "to_chat_message",
    "to_chat_messages",
]
