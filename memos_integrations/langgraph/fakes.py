"""Fake chat models for tests and offline examples (no network, deterministic).

:class:`RecordingChatModel` is LangChain's ``GenericFakeChatModel`` plus: it records every list of
messages it was called with (``calls``), streams tool calls as tool-call chunks, accepts
``bind_tools`` (tools are ignored), and can answer through a ``respond`` function instead of a
fixed script.

Example::

    model = RecordingChatModel(messages=iter(["Hello there!"]))
    model.invoke("hi")
    assert model.calls[0][0].content == "hi"
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field


class RecordingChatModel(GenericFakeChatModel):
    """A fake chat model that records its inputs. Say "fake LLM" where you use it."""

    messages: Iterator[AIMessage | str] = Field(default_factory=lambda: iter(()))
    respond: Callable[[list[BaseMessage]], AIMessage | str] | None = None
    calls: list[list[BaseMessage]] = Field(default_factory=list)

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        self.calls.append(list(messages))
        if self.respond is not None:
            reply = self.respond(list(messages))
        else:
            try:
                reply = next(self.messages)
            except StopIteration:
                reply = "OK."
        return AIMessage(content=reply) if isinstance(reply, str) else reply

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._next(messages)
        content = message.content if isinstance(message.content, str) else json.dumps(message.content)
        tokens = [t for t in re.split(r"(\s)", content) if t] if content else []
        for token in tokens:
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token, id=message.id))
            if run_manager:
                run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk
        if message.tool_calls:
            chunk = ChatGenerationChunk(message=AIMessageChunk(
                content="", id=message.id,
                tool_call_chunks=[
                    {"name": call["name"], "args": json.dumps(call["args"]), "id": call["id"], "index": i}
                    for i, call in enumerate(message.tool_calls)
                ],
            ))
            if run_manager:
                run_manager.on_llm_new_token("", chunk=chunk)
            yield chunk

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """Tools are accepted and ignored (the script decides when to call them)."""
        return self

    @property
    def _llm_type(self) -> str:
        return "recording-fake-chat-model"


__all__ = ["RecordingChatModel"]
