"""Memory for LangChain chains: a Runnable wrapper that recalls and injects before the chain and
memorizes the exchange after it, keyed by ``user_id`` / session from the run config.

Example::

    from langchain_core.prompts import ChatPromptTemplate
    from memos_integrations.langchain import with_memory

    prompt = ChatPromptTemplate.from_messages([("system", "{memory}"), ("human", "{question}")])
    chain = with_memory(prompt | chat_model, engine, input_key="question")
    chain.invoke({"question": "Where do I live?"},
                 config={"configurable": {"user_id": "alice", "session_id": "s1"}})

Inputs: a ``dict`` gets the memoryPrompt under ``memory_key`` (``"memory"``; ``""`` when nothing was
recalled); a ``str``, a list of messages or a ``PromptValue`` becomes a message list with the
memoryPrompt joined to the system message. The user text and the chain's answer (an ``AIMessage``,
a ``str`` or ``output_key`` of a dict) are memorized after each run, also after ``stream``/``astream``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import BaseMessage, HumanMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable, ensure_config
from langchain_core.runnables.config import patch_config
from pydantic import ConfigDict, Field

from memos_integrations.domain.requests import (
    ChatMessage,
    MemorizeRequest,
    RecallOptions,
    RecallRequest,
    RecallResult,
)
from memos_integrations.errors import InvalidRequestError
from memos_integrations.integrations import (
    BackendField,
    MemoryBackend,
    backend_amemorize,
    backend_arecall,
    backend_memorize,
    backend_recall,
    identity_from_configurable,
    injected_prompt,
    memorize_request,
    memory_reminder,
    require_user,
)
from memos_integrations.langchain.messages import inject_messages, last_human_text

_INPUT_KEYS = ("input", "question", "query", "message", "text")
_OUTPUT_KEYS = ("output", "answer", "text", "result", "content")


@dataclass
class _Turn:
    user_id: str
    session_id: str | None
    cube_ids: list[str] | None
    user_text: str
    chain_input: Any


class MemoryRunnable(RunnableSerializable[Any, Any], RecallOptions):
    """Wraps ``bound``: recall -> inject -> run ``bound`` -> memorize. Build it with :func:`with_memory`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    bound: Runnable[Any, Any] = Field(exclude=True)
    engine: BackendField = Field(exclude=True)
    user_id: str | None = None
    input_key: str | None = Field(default=None, description="Key of a dict input holding the user's text.")
    memory_key: str = Field(default="memory", description="Key that receives the memoryPrompt (dict inputs).")
    output_key: str | None = Field(default=None, description="Key of a dict output holding the answer.")
    reminder: bool = Field(default=False, description="Append MemnetAI's short reminder to the user message.")
    memorize_turns: bool = Field(default=True, description="Memorize the user text and the answer.")
    memorize_mode: Literal["auto", "fast", "fine"] = "auto"
    background: bool = Field(default=False, description="Memorize as a durable background task.")
    info: dict[str, Any] = Field(default_factory=dict, description="Stored with every memory.")

    @property
    def InputType(self) -> Any:
        return self.bound.InputType

    @property
    def OutputType(self) -> Any:
        return self.bound.OutputType

    # ------------------------------------------------------------------------------------------
    # input / output translation

    def _user_text(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, PromptValue):
            return last_human_text(value.to_messages())
        if isinstance(value, dict):
            if self.input_key is not None:
                if self.input_key not in value:
                    raise InvalidRequestError(f"input has no key {self.input_key!r}; got keys {sorted(value)}")
                return self._user_text(value[self.input_key])
            for key in _INPUT_KEYS:
                if isinstance(value.get(key), str):
                    return str(value[key])
            if isinstance(value.get("messages"), list):
                return last_human_text(convert_to_messages(value["messages"]))
            texts = [v for k, v in value.items() if isinstance(v, str) and k != self.memory_key]
            if len(texts) == 1:
                return texts[0]
            raise InvalidRequestError(
                f"cannot tell which input key holds the user's text (keys {sorted(value)}); pass input_key=...")
        if isinstance(value, list):
            return last_human_text(convert_to_messages(value))
        raise InvalidRequestError(f"unsupported chain input {type(value).__name__}; use a dict, str or messages")

    def _inject(self, value: Any, result: RecallResult | None) -> Any:
        prompt = injected_prompt(result)
        if isinstance(value, dict):
            return {**value, self.memory_key: prompt}
        if isinstance(value, str):
            messages: list[BaseMessage] = [HumanMessage(content=value)]
        elif isinstance(value, PromptValue):
            messages = value.to_messages()
        else:
            messages = convert_to_messages(value)
        if not prompt:
            return messages
        reminder = memory_reminder(result.language if result is not None else None) if self.reminder else None
        return inject_messages(messages, prompt, reminder=reminder)

    def _output_text(self, output: Any) -> str:
        if output is None:
            return ""
        if isinstance(output, BaseMessage):
            return str(output.text)
        if isinstance(output, str):
            return output
        if isinstance(output, dict):
            if self.output_key is not None:
                return self._output_text(output.get(self.output_key))
            for key in _OUTPUT_KEYS:
                if key in output:
                    return self._output_text(output[key])
            if isinstance(output.get("messages"), list) and output["messages"]:
                return self._output_text(convert_to_messages(output["messages"])[-1])
        return str(output)

    # ------------------------------------------------------------------------------------------
    # the two engine calls

    def _turn(self, value: Any, config: RunnableConfig) -> _Turn:
        identity = identity_from_configurable(config.get("configurable"))
        user_id = require_user(identity.get("user_id") or self.user_id, "with_memory")
        return _Turn(user_id=user_id, session_id=identity.get("session_id") or self.session_id,
                     cube_ids=identity.get("cube_ids") or self.cube_ids, user_text=self._user_text(value),
                     chain_input=value)

    def _recall_request(self, turn: _Turn) -> RecallRequest:
        return self.to_request(turn.user_text, user_id=turn.user_id, session_id=turn.session_id,
                               cube_ids=turn.cube_ids)

    def _memorize_request(self, turn: _Turn, output: Any) -> MemorizeRequest | None:
        if not self.memorize_turns:
            return None
        messages = [ChatMessage(role="user", content=turn.user_text),
                    ChatMessage(role="assistant", content=self._output_text(output))]
        return memorize_request(messages, user_id=turn.user_id, session_id=turn.session_id,
                                cube_ids=turn.cube_ids, info=self.info, mode=self.memorize_mode)

    def _prepare(self, value: Any, config: RunnableConfig) -> tuple[_Turn, Any]:
        turn = self._turn(value, config)
        result = backend_recall(self.engine, self._recall_request(turn)) if turn.user_text.strip() else None
        return turn, self._inject(value, result)

    async def _aprepare(self, value: Any, config: RunnableConfig) -> tuple[_Turn, Any]:
        turn = self._turn(value, config)
        result = await backend_arecall(self.engine, self._recall_request(turn)) if turn.user_text.strip() else None
        return turn, self._inject(value, result)

    def _finish(self, turn: _Turn, output: Any) -> None:
        request = self._memorize_request(turn, output)
        if request is not None:
            backend_memorize(self.engine, request, sync=not self.background)

    async def _afinish(self, turn: _Turn, output: Any) -> None:
        request = self._memorize_request(turn, output)
        if request is not None:
            await backend_amemorize(self.engine, request, sync=not self.background)

    # ------------------------------------------------------------------------------------------
    # Runnable API

    def _run(self, value: Any, run_manager: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        turn, chain_input = self._prepare(value, config)
        output = self.bound.invoke(chain_input, patch_config(config, callbacks=run_manager.get_child()), **kwargs)
        self._finish(turn, output)
        return output

    async def _arun(self, value: Any, run_manager: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        turn, chain_input = await self._aprepare(value, config)
        output = await self.bound.ainvoke(chain_input, patch_config(config, callbacks=run_manager.get_child()),
                                          **kwargs)
        await self._afinish(turn, output)
        return output

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._run, input, ensure_config(config), **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._arun, input, ensure_config(config), **kwargs)

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        config = ensure_config(config)
        turn, chain_input = self._prepare(input, config)
        total: Any = None
        for chunk in self.bound.stream(chain_input, config, **kwargs):
            total = _add(total, chunk)
            yield chunk
        self._finish(turn, total)

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
                      ) -> AsyncIterator[Any]:
        config = ensure_config(config)
        turn, chain_input = await self._aprepare(input, config)
        total: Any = None
        async for chunk in self.bound.astream(chain_input, config, **kwargs):
            total = _add(total, chunk)
            yield chunk
        await self._afinish(turn, total)


def _add(total: Any, chunk: Any) -> Any:
    """Accumulate streamed chunks (message chunks and strings add up; otherwise keep the last)."""
    if total is None:
        return chunk
    try:
        return total + chunk
    except TypeError:
        return chunk


def with_memory(
    chain: Runnable[Any, Any],
    engine: MemoryBackend,
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    input_key: str | None = None,
    memory_key: str = "memory",
    output_key: str | None = None,
    **options: Any,
) -> MemoryRunnable:
    """Give ``chain`` long-term memory: recall + inject before it runs, memorize after.

    ``user_id`` / ``session_id`` given here are defaults; ``config["configurable"]`` of each run wins
    (``session_id`` falls back to ``thread_id``). Remaining keyword arguments are recall options
    (``top_k``, ``relativity`` ...) or :class:`MemoryRunnable` fields (``reminder``, ``background``,
    ``memorize_mode``, ``info``).

    Example::

        chain = with_memory(prompt | model, engine, input_key="question")
        chain.invoke({"question": "Where do I live?"}, config={"configurable": {"user_id": "alice"}})
    """
    return MemoryRunnable(bound=chain, engine=engine, user_id=user_id, session_id=session_id, input_key=input_key,
                          memory_key=memory_key, output_key=output_key, **options)
