"""Chat messages as text, and the memoryPrompt put into a conversation: the one implementation of
each, on :class:`~memos_integrations.domain.requests.ChatMessage` lists.

Framework faces convert their own messages to ``ChatMessage`` first (``langchain/messages.py``,
``llama_index/messages.py``); :func:`inject_memory_into` converts back, returning the messages the
injection did not touch unchanged.

Example::

    >>> from memos_integrations.domain.requests import ChatMessage
    >>> content_text([{"type": "text", "text": "Hi"}, {"type": "image_url", "image_url": {"url": "x"}}])
    'Hi\\n[image_url]'
    >>> out = inject_memory([ChatMessage(role="user", content="Where do I live?")], "# Memories\\n1. Berlin")
    >>> [(m.role, m.text) for m in out]
    [('system', '# Memories\\n1. Berlin'), ('user', 'Where do I live?')]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from memos_integrations.domain.requests import ChatMessage

#: A literal ``{memories}`` in a system prompt is replaced by the memoryPrompt (MemOS ``system_prompt``).
MEMORIES_PLACEHOLDER = "{memories}"
#: Content-part types that carry a model's reasoning, never shown as message text.
REASONING_PARTS = frozenset({"thinking", "redacted_thinking", "reasoning", "reasoning_content"})
#: Content-part types that carry tool calls (the calls themselves travel in ``tool_calls``).
TOOL_CALL_PARTS = frozenset({"tool_use", "tool_call", "function_call", "server_tool_use"})

Placement = Literal["system", "user"]
M = TypeVar("M")


# ------------------------------------------------------------------------------------------------
# messages -> text


def content_text(content: Any, *, attachments: bool = True, separator: str = "\n") -> str:
    """The one rule that turns message content (a string or OpenAI/LangChain content parts) into text.

    Strings are kept as they are. Parts are joined with ``separator``: text parts by their text; with
    ``attachments`` a file part as ``[file: <name>]`` and any other typed part (``image_url``,
    ``input_audio`` ...) as ``[<type>]``; reasoning and tool-call parts never.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else [content]
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict):
            kind = part.get("type")
            if kind == "text" or (kind is None and "text" in part):
                out.append(str(part.get("text") or ""))
            elif not attachments or kind in REASONING_PARTS or kind in TOOL_CALL_PARTS:
                continue
            elif kind == "file":
                file = part.get("file") or {}
                out.append(f"[file: {file.get('filename') or file.get('file_id') or 'attached'}]")
            elif kind:
                out.append(f"[{kind}]")
        else:  # a framework's content block object (e.g. LlamaIndex ``TextBlock`` / ``ImageBlock``)
            kind = getattr(part, "block_type", None)
            text = getattr(part, "text", None)
            if isinstance(text, str) and kind in (None, "text"):
                out.append(text)
            elif attachments and kind and kind not in REASONING_PARTS and kind not in TOOL_CALL_PARTS:
                out.append(f"[{kind}]")
    return separator.join(p for p in out if p)


def latest_user_index(messages: Sequence[ChatMessage]) -> int | None:
    """Index of the latest user message (None when there is none)."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            return index
    return None


def last_user_text(messages: Sequence[ChatMessage]) -> str:
    """The text of the latest user message (``""`` when there is none)."""
    index = latest_user_index(messages)
    return messages[index].text if index is not None else ""


def messages_text(messages: Sequence[ChatMessage], *, last: int | None = None) -> str:
    """Messages as a transcript, one ``speaker: text`` line each (speaker: ``character`` or the
    role), messages without text left out; ``last`` keeps only the latest N messages."""
    chosen = list(messages)[-last:] if last else list(messages)
    lines = []
    for message in chosen:
        text = message.text.strip()
        if text:
            lines.append(f"{message.character or message.role}: {text}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# the memoryPrompt into a conversation


def _join_system(content: Any, parts: list[str]) -> Any:
    block = "\n\n".join(parts)
    if isinstance(content, list):
        return [*content, {"type": "text", "text": block}]
    return "\n\n".join(p for p in (content_text(content), block) if p)


def _prepend(content: Any, text: str) -> Any:
    if isinstance(content, list):
        return [{"type": "text", "text": text}, *content]
    existing = content_text(content)
    return f"{text}\n\n{existing}" if existing else text


def _append(content: Any, text: str) -> Any:
    if isinstance(content, list):
        return [*content, {"type": "text", "text": text}]
    return f"{content_text(content)}{text}"


def plan_injection(
    messages: Sequence[ChatMessage],
    memory_prompt: str,
    *,
    system_prompt: str | None = None,
    reminder: str | None = None,
    placement: Placement = "system",
) -> list[tuple[int | None, ChatMessage]]:
    """:func:`inject_memory`, each output message paired with the index of the given message it
    comes from (``None`` for a message the injection added). Untouched messages are the given
    objects themselves; changed ones are copies with new content."""
    from memos_integrations.domain.requests import ChatMessage

    plan: list[tuple[int | None, ChatMessage]] = list(enumerate(messages))
    if system_prompt and MEMORIES_PLACEHOLDER in system_prompt:
        # the caller placed the memories: no extra block, no reminder
        system_prompt, memory_prompt, reminder = system_prompt.replace(MEMORIES_PLACEHOLDER, memory_prompt), "", None
    in_system = [memory_prompt] if memory_prompt and placement == "system" else []
    system_parts = [p for p in (system_prompt, *in_system) if p]
    if system_parts:
        if plan and plan[0][1].role == "system":
            origin, first = plan[0]
            plan[0] = (origin, first.model_copy(update={"content": _join_system(first.content, system_parts)}))
        else:
            plan.insert(0, (None, ChatMessage(role="system", content="\n\n".join(system_parts))))
    if memory_prompt and placement == "user":
        index = latest_user_index([m for _, m in plan])
        if index is None:
            plan.append((None, ChatMessage(role="user", content=memory_prompt)))
        else:
            origin, user = plan[index]
            plan[index] = (origin, user.model_copy(update={"content": _prepend(user.content, memory_prompt)}))
    if reminder and memory_prompt:
        index = latest_user_index([m for _, m in plan])
        if index is not None:
            origin, user = plan[index]
            plan[index] = (origin, user.model_copy(update={"content": _append(user.content, reminder)}))
    return plan


def inject_memory(
    messages: Sequence[ChatMessage],
    memory_prompt: str,
    *,
    system_prompt: str | None = None,
    reminder: str | None = None,
    placement: Placement = "system",
) -> list[ChatMessage]:
    """The model input of one call: the conversation with the memoryPrompt put in (the given list
    and messages are not changed).

    * ``placement="system"`` (default): ``system_prompt`` and the memoryPrompt join the leading
      system message (a new one is put first when there is none). ``placement="user"``: the
      memoryPrompt goes before the latest user message's text instead.
    * A ``system_prompt`` holding the literal ``{memories}`` gets the memoryPrompt in its place
      (then nothing else is added and no reminder).
    * ``reminder`` (e.g. MemnetAI's "follow the system prompt strictly") is appended to the latest
      user message when there is a memoryPrompt.

    String content is joined with blank lines; list content (content parts) gets text parts added.
    """
    plan = plan_injection(messages, memory_prompt, system_prompt=system_prompt, reminder=reminder,
                          placement=placement)
    return [message for _, message in plan]


def inject_memory_into(
    messages: Sequence[M],
    memory_prompt: str,
    *,
    to_chat: Callable[[M], ChatMessage],
    rebuild: Callable[[ChatMessage, M | None], M],
    system_prompt: str | None = None,
    reminder: str | None = None,
    placement: Placement = "system",
) -> list[M]:
    """:func:`inject_memory` for a framework's own message type.

    ``to_chat`` converts one message to a :class:`ChatMessage`; ``rebuild(injected, original)``
    turns a changed message back (``original`` is the framework message it replaces, ``None`` for
    an added one). Messages the injection did not touch are returned as given.
    """
    converted = [to_chat(message) for message in messages]
    plan = plan_injection(converted, memory_prompt, system_prompt=system_prompt, reminder=reminder,
                          placement=placement)
    out: list[M] = []
    for origin, message in plan:
        if origin is None:
            out.append(rebuild(message, None))
        elif message is converted[origin]:
            out.append(messages[origin])
        else:
            out.append(rebuild(message, messages[origin]))
    return out


__all__ = [
    "MEMORIES_PLACEHOLDER",
    "Placement",
    "content_text",
    "inject_memory",
    "inject_memory_into",
    "last_user_text",
    "latest_user_index",
    "messages_text",
    "plan_injection",
]
