"""LangGraph lifecycle nodes: recall -> inject -> generate -> memorize.

Every node has a sync and an async form (LangGraph runs the async one under ``ainvoke`` /
``astream``). Nodes talk to a *memory backend*: the in-process
:class:`~memos_integrations.engine.MemoryEngine` or any object with the same
``recall/arecall/memorize/amemorize`` methods (e.g. the remote HTTP client).

Options are read, later ones winning, from: the defaults given to :class:`MemoryNodes`, the
run's ``RunnableConfig["configurable"]``, the run context (``context=`` of ``invoke``: a dict or
an object with these attributes) and the graph state:

``user_id`` (required), ``readable_cube_ids``, ``writable_cube_ids``, ``session_id`` (default:
``thread_id``), ``mode`` (recall mode), ``threshold`` (minimum relevance), ``top_k``,
``add_message_on_answer`` (default ``True``), ``memorize_sync`` (default ``False``: a durable
background task, so memorizing never delays the answer), ``memorize_mode`` (fast/fine/auto),
``agent_id``, ``app_id``.

Further options (the HTTP chat endpoints use them; all default to the behaviour above):
recall knobs ``include_preference``, ``preference_top_k``, ``include_tool_memory``,
``tool_top_k``, ``include_skill``, ``filter``, ``common_sense_ids``, ``recall_history`` (how many
earlier messages go to recall as chat history); ``prompt_threshold`` + ``min_memories`` (drop
facts under it from the memoryPrompt, keeping at least ``min_memories``); ``return_recall``
(put the whole :class:`RecallResult` in the state as ``recall_result``); ``system_prompt`` (per
run; a literal ``{memories}`` in it is replaced by the memoryPrompt); ``model_kwargs`` (bound to
the chat model for this run, e.g. ``temperature``); ``info``/``tags`` for the write-back and
``memorize_errors`` (``"raise"`` or ``"log"``: a failed write-back never fails the answer).

Example::

    nodes = MemoryNodes(engine, chat_model)
    graph = StateGraph(MemoryState)
    graph.add_node("recall", nodes.recall_node())
    ...
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.graph.message import add_messages
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

from memos_integrations.pipeline.prompts import REMINDER, build_memory_prompt
from memos_integrations.domain.requests import (
    DEFAULT_SESSION,
    ChatMessage,
    MemorizeRequest,
    MemorizeResult,
    RecallRequest,
    RecallResult,
)
from memos_integrations.errors import InvalidRequestError

MAX_QUERY_CHARS = 60_000
MEMORIES_PLACEHOLDER = "{memories}"
_THINK = re.compile(r"<think>.*?</think>", flags=re.DOTALL)
_CITATION = re.compile(r"\[\d+:[^\]\s]+\]")
logger = logging.getLogger("memos_integrations.langgraph.nodes")


@runtime_checkable
class MemoryBackend(Protocol):
    """What the nodes need: :class:`MemoryEngine` provides all four methods. A sync-only
    backend (``MemosClient``) also works under ``ainvoke`` (run in a thread); an async-only one
    (``AsyncMemosClient``) needs ``ainvoke``/``astream``."""

    def recall(self, request: RecallRequest) -> RecallResult: ...

    async def arecall(self, request: RecallRequest) -> RecallResult: ...

    def memorize(self, request: MemorizeRequest, *, sync: bool = True) -> MemorizeResult: ...

    async def amemorize(self, request: MemorizeRequest, *, sync: bool = True) -> MemorizeResult: ...


class MemoryState(TypedDict, total=False):
    """``MessagesState`` plus the memory keys (all optional), so the graph accepts a parent's
    ``{"messages": [...]}`` state unchanged."""

    messages: Annotated[list[AnyMessage], add_messages]
    user_id: str
    readable_cube_ids: list[str]
    writable_cube_ids: list[str]
    session_id: str
    memory_prompt: str
    memory_language: str
    recalled_memory_ids: list[str]
    memorize_task_id: str | None
    recall_result: RecallResult | None  # only with the ``return_recall`` option


class MemoryOptions(BaseModel):
    """Per-run options of the memory nodes (see the module docstring for where they come from)."""

    model_config = ConfigDict(extra="ignore")

    user_id: str | None = None
    readable_cube_ids: list[str] | None = None
    writable_cube_ids: list[str] | None = None
    session_id: str | None = None
    mode: Literal["fast", "fine", "mixture"] = "fast"
    threshold: float = Field(default=0.45, ge=0.0, le=1.0)
    top_k: int = Field(default=9, ge=0, le=25)
    add_message_on_answer: bool = True
    memorize_sync: bool = False
    memorize_mode: Literal["auto", "fast", "fine"] = "auto"
    agent_id: str = ""
    app_id: str = ""
    # recall knobs (None: the RecallRequest default)
    include_preference: bool | None = None
    preference_top_k: int | None = Field(default=None, ge=0, le=25)
    include_tool_memory: bool | None = None
    tool_top_k: int | None = Field(default=None, ge=0, le=25)
    include_skill: bool | None = None
    filter: dict[str, Any] | None = None
    common_sense_ids: list[str] | None = None
    recall_history: int = Field(default=0, ge=0, le=100)
    prompt_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    min_memories: int = Field(default=3, ge=0, le=25)
    return_recall: bool = False
    # generation
    system_prompt: str | None = None
    model_kwargs: dict[str, Any] | None = None
    # write-back
    info: dict[str, Any] | None = None
    tags: list[str] | None = None
    memorize_errors: Literal["raise", "log"] = "raise"

    def require_user(self) -> str:
        if not self.user_id:
            raise InvalidRequestError(
                "the memory graph needs a user_id: pass it in the state or in "
                "config={'configurable': {'user_id': ...}}"
            )
        return self.user_id


OPTION_NAMES = tuple(MemoryOptions.model_fields)


def _context_values(context: Any) -> dict[str, Any]:
    if context is None:
        return {}
    if isinstance(context, dict):
        return {k: v for k, v in context.items() if k in OPTION_NAMES}
    return {k: getattr(context, k) for k in OPTION_NAMES if getattr(context, k, None) is not None}


def _run_context() -> Any:
    try:
        from langgraph.runtime import get_runtime

        return get_runtime().context
    except Exception:  # noqa: BLE001 - outside a graph run there is no runtime
        return None


def resolve_options(defaults: dict[str, Any], state: dict[str, Any], config: RunnableConfig | None) -> MemoryOptions:
    """Merge defaults < configurable < run context < state into :class:`MemoryOptions`."""
    values: dict[str, Any] = {k: v for k, v in defaults.items() if v is not None}
    configurable = dict((config or {}).get("configurable") or {})
    values.update({k: v for k, v in configurable.items() if k in OPTION_NAMES and v is not None})
    if not values.get("session_id") and configurable.get("thread_id"):
        values["session_id"] = str(configurable["thread_id"])
    values.update(_context_values(_run_context()))
    values.update({k: v for k, v in state.items() if k in OPTION_NAMES and v is not None})
    try:
        return MemoryOptions.model_validate(values)
    except ValueError as exc:
        raise InvalidRequestError(f"invalid memory graph options: {exc}") from exc


# --------------------------------------------------------------------------------------------
# message helpers


def message_text(message: BaseMessage) -> str:
    """The text of a message (text parts of multi-part content joined)."""
    content = message.content
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
    return "\n".join(p for p in parts if p)


def latest_user_index(messages: Sequence[BaseMessage]) -> int | None:
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], HumanMessage):
            return i
    return None


def inject_messages(
    messages: Sequence[BaseMessage],
    memory_prompt: str,
    language: str = "en",
    *,
    system_prompt: str | None = None,
) -> list[BaseMessage]:
    """The model input of this call: the memoryPrompt joins the system message (or a new one
    is put first) and a short reminder is appended to the latest user message. A
    ``system_prompt`` holding the literal ``{memories}`` gets the memoryPrompt in its place
    instead (then no reminder). The given messages are not changed, so nothing of this is
    persisted in the graph state."""
    out = list(messages)
    remind = bool(memory_prompt)
    if system_prompt and MEMORIES_PLACEHOLDER in system_prompt:
        # the caller placed the memories: no extra block, no reminder (MemOS ``system_prompt``)
        system_prompt, memory_prompt = system_prompt.replace(MEMORIES_PLACEHOLDER, memory_prompt), ""
        remind = False
    system_parts = [p for p in (system_prompt, memory_prompt) if p]
    if system_parts:
        if out and isinstance(out[0], SystemMessage):
            joined = "\n\n".join([message_text(out[0]), *system_parts]).strip()
            out[0] = out[0].model_copy(update={"content": joined})
        else:
            out.insert(0, SystemMessage(content="\n\n".join(system_parts)))
    if remind:
        index = latest_user_index(out)
        if index is not None:
            reminder = REMINDER["zh" if language == "zh" else "en"]
            user = out[index]
            if isinstance(user.content, str):
                content: Any = f"{user.content}{reminder}"
            else:
                content = [*user.content, {"type": "text", "text": reminder}]
            out[index] = user.model_copy(update={"content": content})
    return out


def _tool_call_dict(call: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": call.get("id") or "",
        "type": "function",
        "function": {"name": call.get("name", ""), "arguments": json.dumps(call.get("args") or {}, ensure_ascii=False)},
    }


def turn_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """The current turn (latest user message to the end, tool calls and results included) as
    OpenAI-shaped dicts for :class:`MemorizeRequest`."""
    start = latest_user_index(messages)
    if start is None:
        return []
    out: list[dict[str, Any]] = []
    for message in messages[start:]:
        if isinstance(message, HumanMessage):
            out.append({"role": "user", "content": message_text(message), "name": message.name,
                        "message_id": message.id})
        elif isinstance(message, AIMessage):
            entry: dict[str, Any] = {"role": "assistant", "content": message_text(message),
                                     "name": message.name, "message_id": message.id}
            if message.tool_calls:
                entry["tool_calls"] = [_tool_call_dict(dict(c)) for c in message.tool_calls]
            out.append(entry)
        elif isinstance(message, ToolMessage):
            out.append({"role": "tool", "content": message_text(message), "name": message.name,
                        "tool_call_id": message.tool_call_id, "message_id": message.id})
    return [{k: v for k, v in m.items() if v is not None} for m in out]


def clean_answer(text: str) -> str:
    """An assistant reply as memory material: ``<think>`` blocks and ``[n:id]`` citations removed."""
    return _CITATION.sub("", _THINK.sub("", text)).strip()


_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def history_before_latest_user(messages: Sequence[BaseMessage], window: int) -> list[ChatMessage]:
    """Up to ``window`` messages before the latest user message, as :class:`ChatMessage`."""
    index = latest_user_index(messages)
    if index is None or window <= 0:
        return []
    out = []
    for message in messages[:index][-window:]:
        role = _ROLES.get(message.type)
        text = message_text(message)
        if role and text:
            out.append(ChatMessage(role=role, content=text))
    return out


def apply_prompt_threshold(result: RecallResult, threshold: float | None, min_memories: int) -> RecallResult:
    """Drop facts under ``threshold`` (keeping at least ``min_memories``) and rebuild the prompt."""
    if threshold is None or not result.facts:
        return result
    kept = [f for f in result.facts if f.relativity >= threshold]
    if len(kept) < min_memories:
        kept = result.facts[: max(min_memories, len(kept))]
    if len(kept) != len(result.facts):
        result.facts = kept
        result.memory_prompt = build_memory_prompt(result)
    return result


# --------------------------------------------------------------------------------------------
# nodes


class MemoryNodes:
    """The four lifecycle steps over one memory backend and one chat model (or agent).

    ``chat_model`` is any LangChain chat model (bound to ``tools`` when given) or any runnable
    that takes ``{"messages": [...]}`` and returns ``{"messages": [...]}`` (e.g. a
    ``create_agent`` graph): then the memory steps wrap that agent.
    """

    def __init__(
        self,
        backend: MemoryBackend,
        chat_model: BaseChatModel | Runnable[Any, Any] | None = None,
        *,
        tools: Sequence[Any] | None = None,
        system_prompt: str | None = None,
        **defaults: Any,
    ) -> None:
        unknown = set(defaults) - set(OPTION_NAMES)
        if unknown:
            raise InvalidRequestError(f"unknown memory option(s) {sorted(unknown)}; use {list(OPTION_NAMES)}")
        self.backend = backend
        self.chat_model = chat_model
        self.tools = list(tools or [])
        self.system_prompt = system_prompt
        self.defaults = defaults
        self._model: Runnable[Any, Any] | None = None
        if isinstance(chat_model, BaseChatModel):
            self._model = chat_model.bind_tools(self.tools) if self.tools else chat_model
        self._tool_schemas: list[dict[str, Any]] | None = None

    def options(self, state: dict[str, Any], config: RunnableConfig | None) -> MemoryOptions:
        return resolve_options(self.defaults, state, config)

    def _sync(self, name: str) -> Any:
        method = getattr(self.backend, name, None)
        if method is None:
            raise InvalidRequestError(
                f"{type(self.backend).__name__} has no sync {name}(); run the graph with ainvoke/astream"
            )
        return method

    async def _async(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.backend, f"a{name}", None)
        if method is not None:
            return await method(*args, **kwargs)
        return await asyncio.to_thread(self._sync(name), *args, **kwargs)

    # -- recall ---------------------------------------------------------------------------------

    def _recall_request(self, state: dict[str, Any], config: RunnableConfig | None) -> RecallRequest | None:
        messages = state.get("messages") or []
        index = latest_user_index(messages)
        if index is None:
            return None
        query = message_text(messages[index]).strip()[:MAX_QUERY_CHARS]
        if not query:
            return None
        opts = self.options(state, config)
        knobs = {k: getattr(opts, k) for k in ("include_preference", "preference_top_k", "include_tool_memory",
                                                "tool_top_k", "include_skill", "filter", "common_sense_ids")
                 if getattr(opts, k) is not None}
        history = history_before_latest_user(messages, opts.recall_history)
        return RecallRequest(
            query=query, user_id=opts.require_user(), cube_ids=opts.readable_cube_ids,
            session_id=opts.session_id, mode=opts.mode, relativity=opts.threshold, top_k=opts.top_k,
            chat_history=history or None, **knobs,
        )

    def _recall_update(self, result: RecallResult | None, state: dict[str, Any],
                       config: RunnableConfig | None) -> dict[str, Any]:
        opts = self.options(state, config)
        if result is None:
            update: dict[str, Any] = {"memory_prompt": "", "recalled_memory_ids": []}
        else:
            result = apply_prompt_threshold(result, opts.prompt_threshold, opts.min_memories)
            update = {
                "memory_prompt": result.memory_prompt,
                "memory_language": result.language,
                "recalled_memory_ids": [item.record.id for item in result.all_items],
            }
        if opts.return_recall:
            update["recall_result"] = result
        return update

    def recall(self, state: dict[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        """Recall memories for the latest user message."""
        request = self._recall_request(state, config)
        return self._recall_update(self._sync("recall")(request) if request else None, state, config)

    async def arecall(self, state: dict[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        request = self._recall_request(state, config)
        return self._recall_update(await self._async("recall", request) if request else None, state, config)

    # -- inject ---------------------------------------------------------------------------------

    def inject(self, state: dict[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        """Check the recalled prompt and fix its language. The prompt itself is applied to the
        model input of each ``generate`` call (:func:`inject_messages`), never to the stored
        messages, so the reminder lives for this turn's model calls only."""
        prompt = state.get("memory_prompt") or ""
        language = state.get("memory_language") or "en"
        return {"memory_prompt": prompt, "memory_language": "zh" if language == "zh" else "en"}

    async def ainject(self, state: dict[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        return self.inject(state, config)

    def model_input(self, state: dict[str, Any], config: RunnableConfig | None = None) -> list[BaseMessage]:
        system_prompt = self.options(state, config).system_prompt or self.system_prompt
        return inject_messages(state.get("messages") or [], state.get("memory_prompt") or "",
                               state.get("memory_language") or "en", system_prompt=system_prompt)

    # -- generate -------------------------------------------------------------------------------

    def _require_model(self, state: dict[str, Any] | None = None,
                       config: RunnableConfig | None = None) -> Runnable[Any, Any]:
        if self._model is not None:
            kwargs = self.options(state or {}, config).model_kwargs
            return self._model.bind(**kwargs) if kwargs else self._model
        if self.chat_model is None:
            raise InvalidRequestError("the generate step needs a chat model: pass chat_model=")
        return self.chat_model

    def _generated(self, sent: list[BaseMessage], output: Any) -> dict[str, Any]:
        if isinstance(output, BaseMessage):
            return {"messages": [output]}
        produced = list((output or {}).get("messages") or [])
        sent_ids = {m.id for m in sent if m.id}
        return {"messages": [m for m in produced[len(sent):] if not (m.id and m.id in sent_ids)]}

    def _agent_input(self, sent: list[BaseMessage]) -> Any:
        return sent if isinstance(self.chat_model, BaseChatModel) else {"messages": sent}

    def generate(self, state: dict[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        """Call the chat model (or agent) with the memory-injected messages."""
        model = self._require_model(state, config)
        sent = self.model_input(state, config)
        return self._generated(sent, model.invoke(self._agent_input(sent), config))

    async def agenerate(self, state: dict[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        model = self._require_model(state, config)
        sent = self.model_input(state, config)
        return self._generated(sent, await model.ainvoke(self._agent_input(sent), config))

    # -- memorize -------------------------------------------------------------------------------

    def tool_schemas(self) -> list[dict[str, Any]] | None:
        if self._tool_schemas is None and self.tools:
            schemas = []
            for tool in self.tools:
                try:
                    schemas.append(convert_to_openai_tool(tool))
                except Exception:  # noqa: BLE001,S112 - a tool without a schema is simply not described
                    continue
            self._tool_schemas = schemas
        return self._tool_schemas or None

    def _memorize_request(self, state: dict[str, Any], config: RunnableConfig | None) -> tuple[MemorizeRequest | None, bool]:
        opts = self.options(state, config)
        if not opts.add_message_on_answer:
            return None, True
        turn = []
        for message in turn_messages(state.get("messages") or []):
            if message["role"] == "assistant":
                message["content"] = clean_answer(message.get("content") or "")
                if not message["content"] and not message.get("tool_calls"):
                    continue
            turn.append(message)
        if not any(m.get("content") for m in turn):
            return None, True
        request = MemorizeRequest(
            user_id=opts.require_user(), messages=turn, cube_ids=opts.writable_cube_ids,  # type: ignore[arg-type]
            session_id=opts.session_id or DEFAULT_SESSION, mode=opts.memorize_mode, agent_id=opts.agent_id,
            app_id=opts.app_id, tools=self.tool_schemas(), info=opts.info or {}, tags=opts.tags or [],
        )
        return request, opts.memorize_sync

    def _memorize_failed(self, state: dict[str, Any], config: RunnableConfig | None, exc: Exception) -> dict[str, Any]:
        if self.options(state, config).memorize_errors == "raise":
            raise exc
        logger.exception("memory write-back failed (memorize_errors='log'): %s", exc)
        return self._memorize_update(None)

    @staticmethod
    def _memorize_update(result: MemorizeResult | None) -> dict[str, Any]:
        return {"memorize_task_id": result.task_id if result else None}

    def memorize(self, state: dict[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        """Write the turn back (a durable background task unless ``memorize_sync``)."""
        request, sync = self._memorize_request(state, config)
        try:
            return self._memorize_update(self._sync("memorize")(request, sync=sync) if request else None)
        except Exception as exc:  # noqa: BLE001 - re-raised unless memorize_errors='log'
            return self._memorize_failed(state, config, exc)

    async def amemorize(self, state: dict[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        request, sync = self._memorize_request(state, config)
        try:
            return self._memorize_update(await self._async("memorize", request, sync=sync) if request else None)
        except Exception as exc:  # noqa: BLE001 - re-raised unless memorize_errors='log'
            return self._memorize_failed(state, config, exc)

    # -- as LangGraph nodes (sync + async in one runnable) ---------------------------------------

    def recall_node(self) -> RunnableLambda[Any, Any]:
        return RunnableLambda(self.recall, afunc=self.arecall, name="recall")

    def inject_node(self) -> RunnableLambda[Any, Any]:
        return RunnableLambda(self.inject, afunc=self.ainject, name="inject")

    def generate_node(self) -> RunnableLambda[Any, Any]:
        return RunnableLambda(self.generate, afunc=self.agenerate, name="generate")

    def memorize_node(self) -> RunnableLambda[Any, Any]:
        return RunnableLambda(self.memorize, afunc=self.amemorize, name="memorize")


__all__ = [
    "MemoryBackend",
    "MemoryNodes",
    "MemoryOptions",
    "MemoryState",
    "apply_prompt_threshold",
    "clean_answer",
    "inject_messages",
    "message_text",
    "resolve_options",
    "turn_messages",
]
