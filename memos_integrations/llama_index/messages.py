"""LlamaIndex :class:`~llama_index.core.llms.ChatMessage` <-> engine :class:`ChatMessage`, and the
memoryPrompt injected into LlamaIndex message lists (the one
:func:`~memos_integrations.domain.messages.inject_memory` logic).

Example::

    from llama_index.core.llms import ChatMessage as LlamaChatMessage
    to_chat_messages([LlamaChatMessage(role="user", content="I live in Berlin")])  # [ChatMessage(role="user", ...)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage as LlamaChatMessage
from llama_index.core.base.llms.types import MessageRole, TextBlock, ToolCallBlock

from memos_integrations.domain.messages import Placement, inject_memory_into
from memos_integrations.domain.messages import last_user_text as _last_user_text
from memos_integrations.domain.requests import ChatMessage

_ROLES = {"chatbot": "assistant", "model": "assistant"}
_KNOWN = {"user", "assistant", "system", "tool", "function", "developer"}


def role_of(message: LlamaChatMessage) -> str:
    """The OpenAI role of a LlamaIndex message (``chatbot`` / ``model`` -> ``assistant``)."""
    role = message.role.value if isinstance(message.role, MessageRole) else str(message.role)
    role = _ROLES.get(role, role)
    return role if role in _KNOWN else "user"


def _content(message: LlamaChatMessage) -> Any:
    """A message's content: its text when every block is text, else the blocks as content parts
    (text blocks as ``{"type": "text"}`` parts, other blocks as they are)."""
    if all(isinstance(block, TextBlock) for block in message.blocks):
        return message.content or ""
    return [{"type": "text", "text": b.text} if isinstance(b, TextBlock) else b for b in message.blocks]


def _blocks(content: Any) -> list[Any]:
    if not isinstance(content, list):
        return [TextBlock(text=str(content or ""))]
    out: list[Any] = []
    for part in content:
        if isinstance(part, str):
            out.append(TextBlock(text=part))
        elif isinstance(part, dict) and part.get("type") == "text":
            out.append(TextBlock(text=str(part.get("text") or "")))
        else:
            out.append(part)
    return out


def to_chat_message(message: LlamaChatMessage) -> ChatMessage:
    """One LlamaIndex message as an engine :class:`ChatMessage` (role and content)."""
    return ChatMessage(role=role_of(message), content=_content(message))


def as_chat_messages(messages: Sequence[LlamaChatMessage]) -> list[ChatMessage]:
    """Every message as a :class:`ChatMessage`."""
    return [to_chat_message(m) for m in messages]


def text_of(message: LlamaChatMessage | str | None) -> str:
    """The text of a message (or of a plain string input)."""
    if message is None:
        return ""
    if isinstance(message, str):
        return message
    return to_chat_message(message).text


def calls_tools(message: LlamaChatMessage) -> bool:
    """True when an assistant message asks for tool calls (so the turn is not over yet)."""
    if message.additional_kwargs.get("tool_calls"):
        return True
    return any(isinstance(block, ToolCallBlock) for block in message.blocks)


def last_user_text(messages: Sequence[LlamaChatMessage]) -> str:
    """The text of the latest user message (``""`` when there is none)."""
    return _last_user_text(as_chat_messages(messages))


def to_chat_messages(messages: Sequence[LlamaChatMessage], *, include_tools: bool = False) -> list[ChatMessage]:
    """The user/assistant text of LlamaIndex messages (tool results too with ``include_tools``)."""
    out = []
    for chat in as_chat_messages(messages):
        if chat.role in ("system", "developer") or (chat.role in ("tool", "function") and not include_tools):
            continue
        text = chat.text.strip()
        if text:
            out.append(ChatMessage(role=chat.role, content=text))
    return out


def _rebuild(injected: ChatMessage, original: LlamaChatMessage | None) -> LlamaChatMessage:
    if original is not None:
        return original.model_copy(update={"blocks": _blocks(injected.content)})
    return LlamaChatMessage(role=MessageRole(injected.role), blocks=_blocks(injected.content))


def inject_messages(
    messages: Sequence[LlamaChatMessage],
    memory_prompt: str,
    *,
    placement: Placement = "system",
) -> list[LlamaChatMessage]:
    """The messages with the memoryPrompt injected (see
    :func:`~memos_integrations.domain.messages.inject_memory`); the given ones are not changed."""
    return inject_memory_into(list(messages), memory_prompt, to_chat=to_chat_message, rebuild=_rebuild,
                              placement=placement)


__all__ = [
    "as_chat_messages",
    "calls_tools",
    "inject_messages",
    "last_user_text",
    "role_of",
    "text_of",
    "to_chat_message",
    "to_chat_messages",
]
