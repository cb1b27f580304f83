"""LangGraph lifecycle nodes: recall -> inject -> generate -> memorize.

Every node has a sync and an async form (LangGraph runs the async one under ``ainvoke`` /
``astream``). Nodes talk to a *memory backend*
(:class:`~memos_integrations.integrations.MemoryBackend`): the in-process
:class:`~memos_integrations.engine.MemoryEngine` or any object with the same
``recall/arecall/memorize/amemorize`` methods (e.g. the remote HTTP client).

Options (:class:`MemoryOptions`) are read, later ones winning, from: the defaults given to
:class:`MemoryNodes`, the run's ``RunnableConfig["configurable"]``, the run context (``context=``
of ``invoke``: a dict or an object with these attributes) and the graph state.

* Every recall option of :class:`~memos_integrations.domain.requests.RecallOptions`, under the
  same name with the same default (``mode``, ``relativity``, ``top_k``, ``preference_top_k``,
  ``include_tool_memory``, ``filter``, ``common_sense_ids`` ...). The readable cubes are
  ``cube_ids``; the state key ``readable_cube_ids`` (MemOS's name) is read as ``cube_ids``.
* Who and where: ``user_id`` (required), ``writable_cube_ids``, ``session_id`` (default:
  ``thread_id``; memories of the session get a soft boost and the turn is written to it),
  ``agent_id``, ``app_id``.
* The turn: ``recall_history`` (how many earlier messages go to recall as chat history);
  ``prompt_threshold`` + ``min_memories`` (drop facts under it from the memoryPrompt, keeping at
  least ``min_memories``: MemOS chat's ``threshold``); ``return_recall`` (put the whole
  :class:`RecallResult` in the state as ``recall_result``); ``system_prompt`` (per run; a literal
  ``{memories}`` in it is replaced by the memoryPrompt); ``model_kwargs`` (bound to the chat model
  for this run, e.g. ``temperature``).
* The write-back: ``add_message_on_answer`` (default ``True``), ``memorize_sync`` (default
  ``False``: a durable background task, so memorizing never delays the answer),
  ``memorize_mode`` (fast/fine/auto), ``info``/``tags``, ``memorize_errors`` (``"raise"`` or
  ``"log"``: a failed write-back never fails the answer).

Example::

    nodes = MemoryNodes(engine, chat_model, relativity=0.3)
    graph = StateGraph(MemoryState)
    graph.add_node("recall", nodes.recall_node())
    ...
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.graph.message import add_messages
from pydantic import ConfigDict, Field
from typing_extensions import TypedDict

from memos_integrations.domain.messages import latest_user_index
from memos_integrations.domain.requests import (
    DEFAULT_SESSION,
    ChatMessage,
    MemorizeRequest,
    MemorizeResult,
    RecallOptions,
    RecallRequest,
    RecallResult,
)
from memos_integrations.errors import InvalidRequestError
from memos_integrations.integrations import (
    SESSION_KEYS,
    MemoryBackend,
    backend_amemorize,
    backend_arecall,
    backend_memorize,
    backend_recall,
    memory_reminder,
    require_user,
)
from memos_integrations.langchain.messages import as_chat_messages, inject_messages
from memos_integrations.langgraph.tracing import annotate_run
from memos_integrations.pipeline.prompts import build_memory_prompt

MAX_QUERY_CHARS = 60_000
_THINK = re.compile(r"<think>.*?</think>", flags=re.DOTALL)
_CITATION = re.compile(r"\[\d+:[^\]\s]+\]")
logger = logging.getLogger("memos_integrations.langgraph.nodes")


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


class MemoryOptions(RecallOptions):
    """Per-run options of the memory nodes: every :class:`RecallOptions` field (same names, same
    defaults) plus the owner, the write-back and the generate step (see the module docstring for
    where they come from)."""

    model_config = ConfigDict(extra="ignore")

    user_id: str | None = Field(default=None, description="The owner (required to run).")
    writable_cube_ids: list[str] | None = Field(
        default=None, description="Cubes the turn is written to; default [user_id].")
    add_message_on_answer: bool = Field(default=True, description="Write the turn back after the answer.")
    memorize_sync: bool = Field(
        default=False, description="Write back before the run ends (else a durable background task).")
    memorize_mode: Literal["auto", "fast", "fine"] = Field(
        default="auto", description="auto: fine when the engine has a chat model, else fast.")
    agent_id: str = Field(default="", description="Stored with the written memories.")
    app_id: str = Field(default="", description="Stored with the written memories.")
    recall_history: int = Field(
        default=0, ge=0, le=100, description="Earlier messages passed to recall as chat history.")
    prompt_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Drop facts under this relevance from the memoryPrompt, keeping at least min_memories "
                    "(MemOS chat threshold; None: keep every recalled fact).")
    min_memories: int = Field(default=3, ge=0, le=25, description="Facts kept by prompt_threshold in any case.")
    return_recall: bool = Field(default=False, description="Put the whole RecallResult in the state.")
    system_prompt: str | None = Field(
        default=None, description="System prompt of this run; a literal {memories} receives the memoryPrompt.")
    model_kwargs: dict[str, Any] | None = Field(
        default=None, description="Bound to the chat model for this run (e.g. temperature).")
    info: dict[str, Any] | None = Field(default=None, description="Stored with the written memories.")
    tags: list[str] | None = Field(default=None, description="Stored with the written memories.")
    memorize_errors: Literal["raise", "log"] = Field(
        default="raise", description="log: a failed write-back is logged and never fails the answer.")

    def require_user(self) -> str:
        """The owner.

        Raises:
            InvalidRequestError: no ``user_id`` was given anywhere.
        """
        return require_user(self.user_id, "the memory graph")


#: The LangGraph names of options that differ from the option's own name.
OPTION_ALIASES = {"readable_cube_ids": "cube_ids"}
OPTION_NAMES = (*MemoryOptions.model_fields, *OPTION_ALIASES)
_RENAMED = {"threshold": "relativity (minimum relevance of recalled memories) or prompt_threshold "
                         "(minimum relevance of the facts put into the memoryPrompt)"}


def _known(values: dict[str, Any]) -> dict[str, Any]:
    """The option values among ``values`` (aliases mapped to the option's name; None left out)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in OPTION_NAMES and value is not None:
            out[OPTION_ALIASES.get(key, key)] = value
    return out


def _context_values(context: Any) -> dict[str, Any]:
    if context is None:
        return {}
    if isinstance(context, dict):
        return _known(context)
    return _known({k: getattr(context, k, None) for k in OPTION_NAMES})


def _run_context() -> Any:
    try:
        from langgraph.runtime import get_runtime

        return get_runtime().context
    except Exception:  # noqa: BLE001 - outside a graph run there is no runtime
        return None


def resolve_options(defaults: dict[str, Any], state: dict[str, Any], config: RunnableConfig | None) -> MemoryOptions:
    """Merge defaults < configurable < run context < state into :class:`MemoryOptions`.

    Raises:
        InvalidRequestError: an option has a value it cannot take.
    """
    values = _known(defaults)
    configurable = dict((config or {}).get("configurable") or {})
    values.update(_known(configurable))
    if not values.get("session_id"):
        session = next((configurable[k] for k in SESSION_KEYS if configurable.get(k)), None)
        if session:
            values["session_id"] = str(session)
    values.update(_context_values(_run_context()))
    values.update(_known(state))
    try:
        return MemoryOptions.model_validate(values)
    except ValueError as exc:
        raise InvalidRequestError(f"invalid memory graph options: {exc}") from exc


# --------------------------------------------------------------------------------------------
# message helpers


def turn_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """The current turn (latest user message to the end, tool calls and results included) as
    OpenAI-shaped dicts for :class:`MemorizeRequest` (content as text)."""
    chats = as_chat_messages(messages)
    start = latest_user_index(chats)
    if start is None:
        return []
    return [chat.model_copy(update={"content": chat.text}).model_dump(exclude_none=True)
            for chat in chats[start:] if chat.role in ("user", "assistant", "tool")]


def clean_answer(text: str) -> str:
    """An assistant reply as memory material: ``<think>`` blocks and ``[n:id]`` citations removed."""
    return _CITATION.sub("", _THINK.sub("", text)).strip()


def history_before(messages: Sequence[ChatMessage], index: int, window: int) -> list[ChatMessage]:
    """Up to ``window`` messages with text before ``messages[index]``, as text."""
    if window <= 0:
        return []
    return [ChatMessage(role=m.role, content=m.text) for m in messages[:index][-window:]
            if m.role in ("user", "assistant", "system", "tool") and m.text]


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
    ``create_agent`` graph): then the memory steps wrap that agent. ``**defaults`` are
    :class:`MemoryOptions`.

    Raises:
        InvalidRequestError: an unknown option or a value an option cannot take.
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
        renamed = [f"{name!r} is now {_RENAMED[name]}" for name in defaults if name in _RENAMED]
        unknown = set(defaults) - set(OPTION_NAMES)
        if unknown:
            hint = f" ({'; '.join(renamed)})" if renamed else ""
            raise InvalidRequestError(
                f"unknown memory option(s) {sorted(unknown)}{hint}; use {list(OPTION_NAMES)}")
        resolve_options(defaults, {}, None)  # bad values fail here, not in the first run
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

    # -- recall ---------------------------------------------------------------------------------

    def _recall_request(self, state: dict[str, Any], config: RunnableConfig | None) -> RecallRequest | None:
        messages = as_chat_messages(state.get("messages") or [])
        index = latest_user_index(messages)
        if index is None:
            return None
        query = messages[index].text.strip()[:MAX_QUERY_CHARS]
        if not query:
            return None
        opts = self.options(state, config)
        return opts.to_request(query, user_id=opts.require_user(),
                               chat_history=history_before(messages, index, opts.recall_history))

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

    @staticmethod
    def _trace_recall(config: RunnableConfig | None, request: RecallRequest | None, update: dict[str, Any]) -> None:
        if request is None:
            annotate_run(config, recalled=0, skipped="no user message")
            return
        annotate_run(config, user_id=request.user_id, cube_ids=request.readable_cube_ids, mode=request.mode,
                     recalled=len(update.get("recalled_memory_ids") or []),
                     memory_prompt_chars=len(update.get("memory_prompt") or ""))

    def recall(self, state: dict[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        """Recall memories for the latest user message."""
        request = self._recall_request(state, config)
        update = self._recall_update(backend_recall(self.backend, request) if request else None, state, config)
        self._trace_recall(config, request, update)
        return update

    async def arecall(self, state: dict[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        request = self._recall_request(state, config)
        update = self._recall_update(await backend_arecall(self.backend, request) if request else None, state, config)
        self._trace_recall(config, request, update)
        return update

    # -- inject ---------------------------------------------------------------------------------

    def inject(self, state: dict[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        """Check the recalled prompt and fix its language. The prompt itself is applied to the
        model input of each ``generate`` call (:func:`inject_messages`), never to the stored
        messages, so the reminder lives for this turn's model calls only."""
        prompt = state.get("memory_prompt") or ""
        language = "zh" if (state.get("memory_language") or "en") == "zh" else "en"
        annotate_run(config, injected=len(state.get("recalled_memory_ids") or []) if prompt else 0,
                     memory_prompt_chars=len(prompt), language=language)
        return {"memory_prompt": prompt, "memory_language": language}

    async def ainject(self, state: dict[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        return self.inject(state, config)

    def model_input(self, state: dict[str, Any], config: RunnableConfig | None = None) -> list[BaseMessage]:
        """The messages of one model call: the memoryPrompt joins the system message (or the run's
        ``system_prompt`` at ``{memories}``) and the reminder ends the latest user message."""
        system_prompt = self.options(state, config).system_prompt or self.system_prompt
        return inject_messages(state.get("messages") or [], state.get("memory_prompt") or "",
                               system_prompt=system_prompt, reminder=memory_reminder(state.get("memory_language")))

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
        annotate_run(config, model_messages=len(sent), memory_prompt_chars=len(state.get("memory_prompt") or ""))
        return self._generated(sent, model.invoke(self._agent_input(sent), config))

    async def agenerate(self, state: dict[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        model = self._require_model(state, config)
        sent = self.model_input(state, config)
        annotate_run(config, model_messages=len(sent), memory_prompt_chars=len(state.get("memory_prompt") or ""))
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

    @staticmethod
    def _trace_memorize(config: RunnableConfig | None, request: MemorizeRequest | None, sync: bool,
                        result: MemorizeResult | None) -> None:
        if request is None:
            annotate_run(config, messages=0, skipped="nothing to write")
            return
        annotate_run(config, user_id=request.user_id, cube_ids=request.writable_cube_ids, mode=request.mode,
                     sync=sync, messages=len(request.messages),
                     memories_written=len(result.memories) if result else None,
                     task_id=result.task_id if result else None, status=result.status if result else None)

    def memorize(self, state: dict[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        """Write the turn back (a durable background task unless ``memorize_sync``)."""
        request, sync = self._memorize_request(state, config)
        try:
            result = backend_memorize(self.backend, request, sync=sync) if request else None
        except Exception as exc:  # noqa: BLE001 - re-raised unless memorize_errors='log'
            return self._memorize_failed(state, config, exc)
        self._trace_memorize(config, request, sync, result)
        return self._memorize_update(result)

    async def amemorize(self, state: dict[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        request, sync = self._memorize_request(state, config)
        try:
            result = await backend_amemorize(self.backend, request, sync=sync) if request else None
        except Exception as exc:  # noqa: BLE001 - re-raised unless memorize_errors='log'
            return self._memorize_failed(state, config, exc)
        self._trace_memorize(config, request, sync, result)
        return self._memorize_update(result)

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
    "OPTION_ALIASES",
    "MemoryBackend",
    "MemoryNodes",
    "MemoryOptions",
    "MemoryState",
    "apply_prompt_threshold",
    "clean_answer",
    "inject_messages",
    "resolve_options",
    "turn_messages",
]
