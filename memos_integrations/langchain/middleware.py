"""Memory for agents built with :func:`langchain.agents.create_agent`: middleware that recalls
once per run (``before_agent``), injects the memoryPrompt into the system message of every model
call (``wrap_model_call``) and memorizes the run's messages when the run ends (``after_agent``).

Example::

    from langchain.agents import create_agent
    from memos_integrations.langchain import MemoryMiddleware

    agent = create_agent(model, tools=[...], middleware=[MemoryMiddleware(engine)])
    agent.invoke({"messages": [("user", "Where do I live?")]},
                 config={"configurable": {"user_id": "alice", "thread_id": "t1"}})

The owner is read from ``runtime.context.user_id`` (or ``context["user_id"]``), else from
``config["configurable"]["user_id"]``, else the ``user_id`` given here. The session is
``session_id`` / ``thread_id`` of the config. The messages of a run are the trailing user input
(what follows the last AI message when the run starts) plus everything the agent added; with
``memorize_tool_messages`` tool results are memorized too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Literal, NotRequired, cast

from langchain.agents.middleware.types import (
    AgentMiddleware,
    AgentState,
    ModelRequest,
    ModelResponse,
    PrivateStateAttr,
)
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, SystemMessage
from langgraph.channels.untracked_value import UntrackedValue
from langgraph.config import get_config
from langgraph.runtime import Runtime

from memos_integrations.config import Settings
from memos_integrations.domain.requests import MemorizeRequest, RecallRequest, RecallResult
from memos_integrations.integrations import (
    MemoryBackend,
    backend_amemorize,
    backend_arecall,
    backend_memorize,
    backend_recall,
    check_backend,
    identity_from_configurable,
    injected_prompt,
    memorize_request,
    memory_reminder,
    recall_options,
    require_user,
)
from memos_integrations.langchain.messages import inject_messages, last_human_text, to_chat_messages


class MemoryState(AgentState[Any]):
    """Agent state plus the run's memoryPrompt and where the run's messages start (both private,
    not checkpointed)."""

    memos_memory_prompt: NotRequired[Annotated[str, UntrackedValue, PrivateStateAttr]]
    memos_language: NotRequired[Annotated[str, UntrackedValue, PrivateStateAttr]]
    memos_run_start: NotRequired[Annotated[int, UntrackedValue, PrivateStateAttr]]


def _run_start(messages: Sequence[BaseMessage]) -> int:
    """Index of this run's input: what follows the last AI message."""
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], AIMessage):
            return index + 1
    return 0


class MemoryMiddleware(AgentMiddleware[MemoryState, Any, Any]):  # type: ignore[type-var]
    """recall -> inject -> (agent runs) -> memorize, for :func:`langchain.agents.create_agent`.

    Args:
        engine: a ``MemoryEngine`` or a remote client with the same methods.
        user_id: default owner when neither the runtime context nor the config names one.
        memorize_tool_messages: also memorize tool results (default: user and assistant text only).
        memorize_mode: ``auto`` (fine when the engine has a chat model), ``fast`` or ``fine``.
        background: memorize as a durable background task instead of before the run returns.
        reminder: append MemnetAI's short reminder to the latest user message in model calls.
        **options: recall options (``top_k``, ``relativity``, ``memory_types``, ``filter`` ...).
    """

    state_schema = MemoryState

    def __init__(
        self,
        engine: MemoryBackend,
        *,
        user_id: str | None = None,
        memorize_tool_messages: bool = False,
        memorize_mode: Literal["auto", "fast", "fine"] = "auto",
        background: bool = False,
        reminder: bool = False,
        info: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        self.engine = check_backend(engine)
        self.user_id = user_id
        self.memorize_tool_messages = memorize_tool_messages
        self.memorize_mode = memorize_mode
        self.background = background
        self.reminder = reminder
        self.info = dict(info or {})
        self.options = recall_options(options, "MemoryMiddleware")
        self.tools = []

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> MemoryMiddleware:
        """Middleware over ``MemoryEngine.from_settings(settings)``."""
        from memos_integrations.engine import MemoryEngine

        return cls(MemoryEngine.from_settings(settings), **kwargs)

    # ------------------------------------------------------------------------------------------
    # identity

    def _identity(self, runtime: Runtime[Any]) -> dict[str, Any]:
        try:
            configurable = get_config().get("configurable")
        except RuntimeError:  # called outside a runnable context
            configurable = None
        identity = identity_from_configurable(configurable)
        context = runtime.context
        for key in ("user_id", "session_id", "cube_ids"):
            value = context.get(key) if isinstance(context, dict) else getattr(context, key, None)
            if value:
                identity[key] = value
        identity["user_id"] = require_user(identity.get("user_id") or self.user_id, "MemoryMiddleware")
        identity.setdefault("session_id", self.options.session_id)
        identity.setdefault("cube_ids", self.options.cube_ids)
        return identity

    # ------------------------------------------------------------------------------------------
    # before_agent: recall once per run

    def _recall_request(self, state: MemoryState, identity: dict[str, Any]) -> RecallRequest | None:
        query = last_human_text(state["messages"])
        if not query.strip():
            return None
        return self.options.to_request(query, user_id=identity["user_id"], session_id=identity["session_id"],
                                       cube_ids=identity["cube_ids"])

    @staticmethod
    def _update(state: MemoryState, result: RecallResult | None) -> dict[str, Any]:
        return {"memos_memory_prompt": injected_prompt(result), "memos_language": result.language if result else "en",
                "memos_run_start": _run_start(state["messages"])}

    def before_agent(self, state: MemoryState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        request = self._recall_request(state, self._identity(runtime))
        return self._update(state, backend_recall(self.engine, request) if request is not None else None)

    async def abefore_agent(self, state: MemoryState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        request = self._recall_request(state, self._identity(runtime))
        return self._update(state, await backend_arecall(self.engine, request) if request is not None else None)

    # ------------------------------------------------------------------------------------------
    # wrap_model_call: inject into the system message (this call only; state is unchanged)

    def _inject(self, request: ModelRequest[Any]) -> ModelRequest[Any]:
        prompt = str(request.state.get("memos_memory_prompt") or "")
        if not prompt:
            return request
        reminder = memory_reminder(str(request.state.get("memos_language") or "")) if self.reminder else None
        system = request.system_message or SystemMessage(content="")
        injected = inject_messages([system, *request.messages], prompt, reminder=reminder)
        return request.override(system_message=cast(SystemMessage, injected[0]),
                                messages=cast(list[AnyMessage], injected[1:]))

    def wrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], ModelResponse[Any]]
    ) -> ModelResponse[Any]:
        return handler(self._inject(request))

    async def awrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]]
    ) -> ModelResponse[Any]:
        return await handler(self._inject(request))

    # ------------------------------------------------------------------------------------------
    # after_agent: memorize the run

    def _memorize_request(self, state: MemoryState, identity: dict[str, Any]) -> MemorizeRequest | None:
        messages = state["messages"]
        start = min(max(int(state.get("memos_run_start", 0) or 0), 0), len(messages))
        kept = to_chat_messages(messages[start:], include_tools=self.memorize_tool_messages)
        return memorize_request(kept, user_id=identity["user_id"], session_id=identity["session_id"],
                                cube_ids=identity["cube_ids"], info=self.info, mode=self.memorize_mode)

    def after_agent(self, state: MemoryState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        request = self._memorize_request(state, self._identity(runtime))
        if request is not None:
            backend_memorize(self.engine, request, sync=not self.background)
        return None

    async def aafter_agent(self, state: MemoryState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        request = self._memorize_request(state, self._identity(runtime))
        if request is not None:
            await backend_amemorize(self.engine, request, sync=not self.background)
        return None
