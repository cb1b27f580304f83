"""The chat lifecycle behind the HTTP chat endpoints: recall -> inject -> generate -> memorize.

Kept in one small module so it can be swapped for the LangGraph memory graph
(``memos_integrations.langgraph.graph.build_memory_graph``) without touching the routers: the
routers only call :func:`complete` and :func:`stream` with a :class:`ChatTurn`.

Example::

    turn = ChatTurn(user_id="alice", query="Where do I live?")
    answer = await complete(engine, chat_model, turn)
    print(answer.response, answer.task_id)
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, convert_to_messages
from langchain_core.runnables import Runnable
from pydantic import BaseModel, Field

from memos_integrations.core.prompt import build_memory_prompt, inject
from memos_integrations.core.requests import (
    DEFAULT_SESSION,
    ChatMessage,
    MemorizeRequest,
    RecallRequest,
    RecallResult,
)
from memos_integrations.server.errors import ChatModelError

logger = logging.getLogger("memos_integrations.server.chat")

HISTORY_WINDOW = 20
MEMORIES_PLACEHOLDER = "{memories}"
_CITATION = re.compile(r"\[\d+:[^\]\s]+\]")

ChatRunnable = BaseChatModel | Runnable[Any, Any]


class ChatTurn(BaseModel):
    """One chat turn, as every chat endpoint describes it."""

    user_id: str
    query: str
    readable_cube_ids: list[str] | None = None
    writable_cube_ids: list[str] | None = None
    history: list[ChatMessage] = Field(default_factory=list)
    system_prompt: str | None = None
    session_id: str | None = None
    mode: str = "fast"
    top_k: int = 9
    include_preference: bool = True
    pref_top_k: int = 6
    include_tool_memory: bool = False
    tool_top_k: int = 6
    relativity: float = 0.45
    threshold: float | None = None  # drop facts below it for the prompt, keeping at least min_memories
    min_memories: int = 3
    filter: dict[str, Any] | None = None
    common_sense_ids: list[str] | None = None
    add_message_on_answer: bool = True
    info: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    agent_id: str = ""
    app_id: str = ""

    def recall_request(self) -> RecallRequest:
        return RecallRequest(
            query=self.query, user_id=self.user_id, cube_ids=self.readable_cube_ids or [self.user_id],
            session_id=self.session_id, mode=self.mode,  # type: ignore[arg-type]
            relativity=self.relativity, top_k=self.top_k, include_preference=self.include_preference,
            preference_top_k=self.pref_top_k, include_tool_memory=self.include_tool_memory,
            tool_top_k=self.tool_top_k, include_skill=False, filter=self.filter,
            chat_history=self.history or None, common_sense_ids=self.common_sense_ids,
        )


@dataclass
class ChatAnswer:
    response: str
    reasoning: str | None
    recall: RecallResult
    task_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# recall + inject


async def recall_for(engine: Any, turn: ChatTurn) -> RecallResult:
    """Recall for the turn, drop facts under ``threshold`` (keeping ``min_memories``), rebuild
    the memoryPrompt."""
    result: RecallResult = await engine.arecall(turn.recall_request())
    if turn.threshold is not None and result.facts:
        kept = [f for f in result.facts if f.relativity >= turn.threshold]
        if len(kept) < turn.min_memories:
            kept = result.facts[: max(turn.min_memories, len(kept))]
        if len(kept) != len(result.facts):
            result.facts = kept
            result.memory_prompt = build_memory_prompt(result)
    return result


def build_messages(turn: ChatTurn, result: RecallResult) -> list[BaseMessage]:
    """[system (with memories), *history[-20:], user query]."""
    history = [{"role": m.role, "content": m.text} for m in turn.history[-HISTORY_WINDOW:]
               if m.role in ("user", "assistant", "system")]
    messages: list[dict[str, Any]] = [*history, {"role": "user", "content": turn.query}]
    prompt = turn.system_prompt
    if prompt and MEMORIES_PLACEHOLDER in prompt:
        system = prompt.replace(MEMORIES_PLACEHOLDER, result.memory_prompt)
        messages = [{"role": "system", "content": system}, *messages]
    else:
        if prompt:
            messages = [{"role": "system", "content": prompt}, *messages]
        messages = inject(messages, result.memory_prompt, result.language)
    return convert_to_messages(messages)


# ---------------------------------------------------------------------------------------------
# generate


def split_think(text: str) -> tuple[str, str | None]:
    """Split the first ``<think>...</think>`` block off a completion: (response, reasoning)."""
    match = re.search(r"<think>(.*?)</think>", text, flags=re.DOTALL)
    if not match:
        return text, None
    return (text[: match.start()] + text[match.end():]).strip(), match.group(1).strip()


class ThinkSplitter:
    """Route streamed chunks to ``text`` or ``reasoning`` by ``<think>``/``</think>`` markers,
    even when a marker is split across chunks. The markers themselves are swallowed."""

    OPEN, CLOSE = "<think>", "</think>"

    def __init__(self) -> None:
        self._buffer = ""
        self._thinking = False

    def feed(self, chunk: str) -> list[tuple[str, str]]:
        self._buffer += chunk
        out: list[tuple[str, str]] = []
        while self._buffer:
            marker = self.CLOSE if self._thinking else self.OPEN
            idx = self._buffer.find(marker)
            if idx >= 0:
                if idx:
                    out.append(("reasoning" if self._thinking else "text", self._buffer[:idx]))
                self._buffer = self._buffer[idx + len(marker):]
                self._thinking = not self._thinking
                continue
            keep = next((k for k in range(len(marker) - 1, 0, -1) if self._buffer.endswith(marker[:k])), 0)
            emit = self._buffer[: len(self._buffer) - keep]
            if emit:
                out.append(("reasoning" if self._thinking else "text", emit))
            self._buffer = self._buffer[len(self._buffer) - keep:]
            break
        return out

    def flush(self) -> list[tuple[str, str]]:
        rest, self._buffer = self._buffer, ""
        return [("reasoning" if self._thinking else "text", rest)] if rest else []


def model_error(exc: Exception) -> ChatModelError:
    logger.warning("chat model call failed: %s: %s", type(exc).__name__, exc)
    return ChatModelError(f"the chat model failed ({type(exc).__name__}): {str(exc)[:300]}")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return str(content or "")


async def complete(engine: Any, model: ChatRunnable, turn: ChatTurn) -> ChatAnswer:
    """The whole turn at once."""
    result = await recall_for(engine, turn)
    try:
        reply = await model.ainvoke(build_messages(turn, result))
    except Exception as exc:
        raise model_error(exc) from exc
    text = _text_of(getattr(reply, "content", reply))
    response, reasoning = split_think(text)
    extra_reasoning = (getattr(reply, "additional_kwargs", None) or {}).get("reasoning_content")
    if extra_reasoning and not reasoning:
        reasoning = str(extra_reasoning)
    answer = ChatAnswer(response=response, reasoning=reasoning, recall=result)
    answer.task_id = await write_back(engine, turn, answer.response)
    return answer


@dataclass
class ChatEvent:
    kind: str  # "recalled" | "text" | "reasoning" | "done"
    text: str = ""
    recall: RecallResult | None = None
    answer: ChatAnswer | None = None


async def stream(engine: Any, model: ChatRunnable, turn: ChatTurn) -> AsyncIterator[ChatEvent]:
    """The turn as events: ``recalled`` first, then ``reasoning``/``text`` chunks, then ``done``
    (after the write-back was queued)."""
    result = await recall_for(engine, turn)
    yield ChatEvent("recalled", recall=result)
    splitter = ThinkSplitter()
    text_parts: list[str] = []
    reasoning_parts: list[str] = []
    chunks = model.astream(build_messages(turn, result)).__aiter__()
    while True:
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            break
        except Exception as exc:
            raise model_error(exc) from exc
        extra = (getattr(chunk, "additional_kwargs", None) or {}).get("reasoning_content")
        if extra:
            reasoning_parts.append(str(extra))
            yield ChatEvent("reasoning", str(extra))
        for kind, piece in splitter.feed(_text_of(getattr(chunk, "content", chunk))):
            (text_parts if kind == "text" else reasoning_parts).append(piece)
            yield ChatEvent(kind, piece)
    for kind, piece in splitter.flush():
        (text_parts if kind == "text" else reasoning_parts).append(piece)
        yield ChatEvent(kind, piece)
    answer = ChatAnswer(response="".join(text_parts).strip(), reasoning="".join(reasoning_parts) or None,
                        recall=result)
    answer.task_id = await write_back(engine, turn, answer.response)
    yield ChatEvent("done", answer=answer)


# ---------------------------------------------------------------------------------------------
# memorize


async def write_back(engine: Any, turn: ChatTurn, response: str) -> str | None:
    """Queue the Q/A pair as an async memorize task (``add_message_on_answer``)."""
    if not turn.add_message_on_answer or not response:
        return None
    now = datetime.now(UTC).isoformat()
    request = MemorizeRequest(
        user_id=turn.user_id,
        messages=[ChatMessage(role="user", content=turn.query, chat_time=now),
                  ChatMessage(role="assistant", content=_CITATION.sub("", response).strip(), chat_time=now)],
        cube_ids=turn.writable_cube_ids or [turn.user_id],
        session_id=turn.session_id or DEFAULT_SESSION,
        info=turn.info, tags=turn.tags, agent_id=turn.agent_id, app_id=turn.app_id,
    )
    try:
        result = await asyncio.to_thread(engine.memorize, request, sync=False)
    except Exception:
        logger.exception("chat write-back failed for user %s", turn.user_id)
        return None
    return result.task_id
