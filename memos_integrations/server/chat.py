"""The HTTP chat endpoints run the LangGraph memory graph: recall -> inject -> generate -> memorize.

The graph is :func:`memos_integrations.langgraph.graph.build_memory_graph`, the same one
LangGraph users run; it is compiled once per (engine, chat model) and cached. Each request's
options (cubes, recall knobs, system prompt, sampling kwargs, write-back fields) travel in the
run's ``config["configurable"]``; the history and query are the graph's input ``messages``.
The routers only call :func:`complete` and :func:`stream` with a :class:`ChatTurn`.

Example::

    turn = ChatTurn(user_id="alice", query="Where do I live?")
    answer = await complete(engine, chat_model, turn)
    print(answer.response, answer.task_id)
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_messages
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig
from pydantic import Field

from memos_integrations.domain.messages import content_text
from memos_integrations.domain.requests import ChatMessage, RecallResult
from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import MemosError
from memos_integrations.langgraph.graph import build_memory_graph
from memos_integrations.langgraph.nodes import MemoryOptions
from memos_integrations.server.errors import ChatModelError

logger = logging.getLogger("memos_integrations.server.chat")

HISTORY_WINDOW = 20
GRAPH_CACHE_SIZE = 32
GRAPH_NAME = "memos_chat"
CHAT_CALLBACKS: list[BaseCallbackHandler] = []
"""Callback handlers added to every chat graph run (tracing, e.g. Langfuse or a test recorder)."""

ChatRunnable = BaseChatModel | Runnable[Any, Any]


class ChatTurn(MemoryOptions):
    """One chat turn as every chat endpoint describes it: the query, the history and the memory
    graph's options (:class:`~memos_integrations.langgraph.nodes.MemoryOptions`, so every recall
    option has its :class:`~memos_integrations.domain.requests.RecallOptions` name and default).

    The defaults below are what a chat endpoint does beyond the graph's own defaults: the last
    ``HISTORY_WINDOW`` messages go to recall as chat history, the recall result is returned, and
    the write-back is a background task whose failure never fails the answer.
    """

    user_id: str = Field(min_length=1, max_length=256, description="The owner.")
    query: str = Field(min_length=1, description="The user's message of this turn.")
    history: list[ChatMessage] = Field(default_factory=list, description="Earlier messages of the conversation.")
    recall_history: int = Field(default=HISTORY_WINDOW, ge=0, le=100,
                                description="Earlier messages passed to recall as chat history.")
    return_recall: bool = Field(default=True, description="Put the whole RecallResult in the state.")
    memorize_errors: Literal["raise", "log"] = Field(
        default="log", description="log: a failed write-back is logged and never fails the answer.")

    def graph_options(self) -> dict[str, Any]:
        """The memory graph's options of this turn (every :class:`MemoryOptions` field)."""
        return {name: getattr(self, name) for name in MemoryOptions.model_fields}


@dataclass
class ChatAnswer:
    response: str
    reasoning: str | None
    recall: RecallResult
    task_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# the graph, its input and its per-request options


_GRAPHS: OrderedDict[tuple[int, int], tuple[Any, Any, Any]] = OrderedDict()
_GRAPHS_LOCK = threading.Lock()


def split_model(model: ChatRunnable) -> tuple[ChatRunnable, dict[str, Any]]:
    """``(base chat model, bound kwargs)``: the registry binds ``temperature``/``max_tokens``/
    ``top_p`` per request; the graph is cached for the base model and gets the kwargs per run."""
    if isinstance(model, RunnableBinding) and isinstance(model.bound, BaseChatModel) and not model.config:
        return model.bound, dict(model.kwargs)
    return model, {}


def memory_graph(engine: MemoryEngine, model: ChatRunnable) -> Any:
    """The compiled memory graph for (engine, model), built once and cached (LRU of
    ``GRAPH_CACHE_SIZE``; entries hold their objects, so an id is never reused while cached)."""
    key = (id(engine), id(model))
    with _GRAPHS_LOCK:
        entry = _GRAPHS.get(key)
        if entry is not None and entry[0] is engine and entry[1] is model:
            _GRAPHS.move_to_end(key)
            return entry[2]
        graph = build_memory_graph(engine, model, name=GRAPH_NAME)
        _GRAPHS[key] = (engine, model, graph)
        while len(_GRAPHS) > GRAPH_CACHE_SIZE:
            _GRAPHS.popitem(last=False)
        return graph


def graph_input(turn: ChatTurn) -> dict[str, Any]:
    """``{"messages": [*history[-20:], user query]}`` (system messages of the history kept)."""
    history = [{"role": m.role, "content": m.text} for m in turn.history[-HISTORY_WINDOW:]
               if m.role in ("user", "assistant", "system") and m.text]
    return {"messages": convert_to_messages([*history, {"role": "user", "content": turn.query}])}


def graph_config(turn: ChatTurn, model_kwargs: dict[str, Any] | None = None) -> RunnableConfig:
    """The run's options for the memory nodes (see :mod:`memos_integrations.langgraph.nodes`)."""
    configurable = turn.graph_options()
    configurable["model_kwargs"] = model_kwargs or turn.model_kwargs
    return {"configurable": configurable, "callbacks": list(CHAT_CALLBACKS), "run_name": GRAPH_NAME,
            "metadata": {"memos_user_id": turn.user_id}}


class _Run:
    """What one graph run produced, gathered from its ``updates`` stream."""

    def __init__(self) -> None:
        self.done: set[str] = set()
        self.recall: RecallResult | None = None
        self.reply: BaseMessage | None = None
        self.task_id: str | None = None

    def update(self, updates: dict[str, Any]) -> str | None:
        """Take one ``updates`` item; returns the (last) node name in it."""
        last = None
        for node, values in updates.items():
            last = node
            self.done.add(node)
            values = values or {}
            if node == "recall":
                self.recall = values.get("recall_result") or RecallResult(query="")
            elif node == "generate":
                produced = [m for m in values.get("messages") or [] if isinstance(m, AIMessage)]
                self.reply = produced[-1] if produced else self.reply
            elif node == "memorize":
                self.task_id = values.get("memorize_task_id")
        return last

    def error(self, exc: Exception) -> Exception:
        """A failure of the generate step is the chat model's (502); others pass through."""
        if isinstance(exc, MemosError):
            return exc
        if "inject" in self.done and "generate" not in self.done:
            return model_error(exc)
        return exc


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
    """A reply's (or a streamed chunk's) text: text parts only, joined as they stream."""
    return content_text(content, attachments=False, separator="")


async def complete(engine: MemoryEngine, model: ChatRunnable, turn: ChatTurn) -> ChatAnswer:
    """The whole turn at once: one run of the memory graph."""
    base, model_kwargs = split_model(model)
    graph = memory_graph(engine, base)
    run = _Run()
    try:
        async for updates in graph.astream(graph_input(turn), graph_config(turn, model_kwargs),
                                           stream_mode="updates"):
            run.update(updates)
    except Exception as exc:
        raise run.error(exc) from exc
    reply = run.reply
    text = _text_of(getattr(reply, "content", "")) if reply is not None else ""
    response, reasoning = split_think(text)
    extra_reasoning = (getattr(reply, "additional_kwargs", None) or {}).get("reasoning_content")
    if extra_reasoning and not reasoning:
        reasoning = str(extra_reasoning)
    return ChatAnswer(response=response, reasoning=reasoning, recall=run.recall or RecallResult(query=turn.query),
                      task_id=run.task_id)


@dataclass
class ChatEvent:
    kind: str  # "recalled" | "text" | "reasoning" | "done"
    text: str = ""
    recall: RecallResult | None = None
    answer: ChatAnswer | None = None


async def stream(engine: MemoryEngine, model: ChatRunnable, turn: ChatTurn) -> AsyncIterator[ChatEvent]:
    """The turn as events from one streamed run of the memory graph: ``recalled`` (after the
    recall node), then ``reasoning``/``text`` chunks as the generate node's model streams them,
    then ``done`` (after the memorize node queued the write-back)."""
    base, model_kwargs = split_model(model)
    graph = memory_graph(engine, base)
    run = _Run()
    splitter = ThinkSplitter()
    text_parts: list[str] = []
    reasoning_parts: list[str] = []
    streamed = False

    def route(pieces: list[tuple[str, str]]) -> list[ChatEvent]:
        for kind, piece in pieces:
            (text_parts if kind == "text" else reasoning_parts).append(piece)
        return [ChatEvent(kind, piece) for kind, piece in pieces]

    events = graph.astream(graph_input(turn), graph_config(turn, model_kwargs),
                           stream_mode=["updates", "messages"]).__aiter__()
    while True:
        try:
            mode, payload = await events.__anext__()
        except StopAsyncIteration:
            break
        except Exception as exc:
            raise run.error(exc) from exc
        if mode == "updates":
            if run.update(payload) == "recall":
                yield ChatEvent("recalled", recall=run.recall)
            continue
        chunk, metadata = payload
        if (metadata or {}).get("langgraph_node") != "generate" or not isinstance(chunk, AIMessage):
            continue
        if not isinstance(chunk, AIMessageChunk) and streamed:
            continue  # the whole reply after its chunks: already forwarded
        streamed = True
        extra = (chunk.additional_kwargs or {}).get("reasoning_content")
        if extra:
            reasoning_parts.append(str(extra))
            yield ChatEvent("reasoning", str(extra))
        for event in route(splitter.feed(_text_of(chunk.content))):
            yield event
    for event in route(splitter.flush()):
        yield event
    answer = ChatAnswer(response="".join(text_parts).strip(), reasoning="".join(reasoning_parts) or None,
                        recall=run.recall or RecallResult(query=turn.query), task_id=run.task_id)
    yield ChatEvent("done", answer=answer)
