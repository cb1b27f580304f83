"""LangChain message <-> engine :class:`ChatMessage` conversion.

Example::

    from langchain_core.messages import HumanMessage
    to_chat_messages([HumanMessage("I live in Berlin")])  # [ChatMessage(role="user", ...)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage, convert_to_messages

from memos_integrations.domain.requests import ChatMessage

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "function",
          "developer": "developer"}


def message_role(message: BaseMessage) -> str:
    """The OpenAI role of a LangChain message (``human`` -> ``user``, ``ai`` -> ``assistant``)."""
    if message.type == "chat":
        return str(getattr(message, "role", "user"))
    return _ROLES.get(message.type, "user")


def to_chat_message(message: BaseMessage, *, include_tool_calls: bool = False) -> ChatMessage:
    """One LangChain message as an engine :class:`ChatMessage` (text content, name, ids)."""
    extra: dict[str, Any] = {}
    if isinstance(message, ToolMessage):
        extra["tool_call_id"] = message.tool_call_id
    if include_tool_calls and isinstance(message, AIMessage) and message.tool_calls:
        extra["tool_calls"] = [dict(call) for call in message.tool_calls]
    return ChatMessage(role=message_role(message), content=str(message.text), name=message.name,
                       message_id=message.id, **extra)


def to_chat_messages(messages: Sequence[BaseMessage | Any], *, include_tools: bool = False) -> list[ChatMessage]:
    """Messages worth memorizing: user and assistant text (tool results too with ``include_tools``).

    Anything :func:`langchain_core.messages.convert_to_messages` accepts (tuples, dicts, strings) works.
    """
    out = []
    for message in convert_to_messages(list(messages)):
        if isinstance(message, SystemMessage):
            continue
        if isinstance(message, ToolMessage) and not include_tools:
            continue
        if not str(message.text).strip():
            continue  # e.g. an AI message that only calls tools
        out.append(to_chat_message(message))
    return out


def last_human_text(messages: Sequence[BaseMessage]) -> str:
    """Text of the latest human message ('' when there is none)."""
    for message in reversed(messages):
        if message.type == "human":
            return str(message.text)
    return ""


def inject_system(messages: Sequence[BaseMessage], memory_prompt: str, *, reminder: str | None = None
                  ) -> list[BaseMessage]:
    """A new message list with ``memory_prompt`` joined to the system message (or a new one first),
    and optionally ``reminder`` appended to the latest human message. The input is not changed."""
    out = list(messages)
    if out and isinstance(out[0], SystemMessage):
        content = out[0].content
        if isinstance(content, str):
            out[0] = out[0].model_copy(update={"content": f"{content}\n\n{memory_prompt}".strip()})
        else:
            out[0] = out[0].model_copy(update={"content": [*content, {"type": "text", "text": memory_prompt}]})
    else:
        out.insert(0, SystemMessage(content=memory_prompt))
    if reminder:
        for index in range(len(out) - 1, -1, -1):
            message = out[index]
            if message.type == "human" and isinstance(message.content, str):
                out[index] = message.model_copy(update={"content": f"{message.content}{reminder}"})
                break
    return out
