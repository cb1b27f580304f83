"""Long-term memory for LlamaIndex.

* :class:`MemosMemory` — a chat memory for ``SimpleChatEngine``, ``CondensePlusContextChatEngine``
  and ``FunctionAgent``: a short-term buffer of the conversation plus recall of long-term memories
  for the latest user message (joined to the system message), and **every finished turn is
  memorized** (not only what overflows the buffer). Sync methods call the engine synchronously (no
  event loop juggling), async methods call it asynchronously.
* :class:`MemosMemoryBlock` — a block for ``llama_index.core.memory.Memory``: recalls for the current
  input, memorizes the messages it receives. Note that ``Memory`` hands blocks only the messages that
  overflow its short-term buffer; use :class:`MemosMemory` when every turn must be memorized.

Example::

    from llama_index.core.chat_engine import SimpleChatEngine

    memory = MemosMemory.from_defaults(engine=engine, user_id="alice", session_id="chat-1")
    chat = SimpleChatEngine.from_defaults(llm=llm, memory=memory)
    chat.chat("I moved to Berlin last year.")          # memorized when the answer arrives
    # later, in another conversation:
    memory2 = MemosMemory.from_defaults(engine=engine, user_id="alice")
    SimpleChatEngine.from_defaults(llm=llm, memory=memory2).chat("Where do I live?")  # Berlin is injected

    # or as a block of LlamaIndex's own Memory:
    Memory.from_defaults(session_id="chat-1", memory_blocks=[MemosMemoryBlock(engine=engine, user_id="alice")])
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any, Literal

from llama_index.core.base.llms.types import ChatMessage as LlamaChatMessage
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr
from llama_index.core.memory.memory import BaseMemoryBlock
from llama_index.core.memory.types import BaseMemory
from llama_index.core.utils import get_tokenizer

from memos_integrations.config import Settings
from memos_integrations.domain.requests import MemorizeRequest, RecallOptions, RecallRequest, RecallResult
from memos_integrations.integrations import (
    BackendField,
    MemoryBackend,
    backend_amemorize,
    backend_arecall,
    backend_memorize,
    backend_recall,
    check_backend,
    injected_prompt,
    memorize_request,
    recall_options,
    require_user,
)
from memos_integrations.llama_index.messages import (
    calls_tools,
    inject_messages,
    last_user_text,
    role_of,
    text_of,
    to_chat_messages,
)


def _new_session() -> str:
    return f"llama-{uuid.uuid4().hex[:12]}"


# ------------------------------------------------------------------------------------------------
# memory block for llama_index.core.memory.Memory


class MemosMemoryBlock(BaseMemoryBlock[str]):
    """A ``Memory`` block: recall for the current input (returns the memoryPrompt, ``""`` when
    nothing is relevant) and memorize the messages the ``Memory`` puts into it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str = "long_term_memory"
    description: str | None = "Long-term memories of the user, recalled for the current input."
    engine: BackendField = Field(exclude=True, description="MemoryEngine or a remote client.")
    user_id: str
    session_id: str | None = Field(default=None, description="Default: the Memory's session_id.")
    recall: RecallOptions = Field(default_factory=RecallOptions)
    memorize_mode: Literal["auto", "fast", "fine"] = "auto"
    memorize_tool_messages: bool = False
    background: bool = False
    info: dict[str, Any] = Field(default_factory=dict)

    def _recall_request(self, messages: list[LlamaChatMessage] | None, session_id: str | None
                        ) -> RecallRequest | None:
        query = last_user_text(messages or [])
        if not query.strip():
            return None
        return self.recall.to_request(query, user_id=require_user(self.user_id, "MemosMemoryBlock"),
                                      session_id=self.session_id or session_id)

    async def _aget(self, messages: list[LlamaChatMessage] | None = None, **block_kwargs: Any) -> str:
        request = self._recall_request(messages, block_kwargs.get("session_id"))
        if request is None:
            return ""
        return injected_prompt(await backend_arecall(self.engine, request))

    async def _aput(self, messages: list[LlamaChatMessage]) -> None:
        session = self.session_id or next(
            (m.additional_kwargs.get("session_id") for m in messages if m.additional_kwargs.get("session_id")), None)
        request = memorize_request(to_chat_messages(messages, include_tools=self.memorize_tool_messages),
                                   user_id=require_user(self.user_id, "MemosMemoryBlock"), session_id=session,
                                   cube_ids=self.recall.cube_ids, info=self.info, mode=self.memorize_mode)
        if request is not None:
            await backend_amemorize(self.engine, request, sync=not self.background)


# ------------------------------------------------------------------------------------------------
# chat memory for chat engines and agents


class MemosMemory(BaseMemory):
    """Short-term buffer + long-term recall, memorizing every finished turn.

    A turn ends when an assistant message with text and no tool calls is put; the user, assistant
    (and, with ``memorize_tool_messages``, tool) messages since the previous turn are then
    memorized. ``set()`` (a caller-supplied history) replaces the buffer without memorizing it;
    ``reset()`` clears the buffer, never long-term memories; ``flush()`` memorizes what is pending.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    user_id: str
    session_id: str = Field(default_factory=_new_session)
    recall: RecallOptions = Field(default_factory=RecallOptions)
    token_limit: int = Field(default=30_000, gt=0, description="Token budget of memories + short-term history.")
    tokenizer_fn: Callable[[str], list[Any]] = Field(default_factory=get_tokenizer, exclude=True)
    insert_method: Literal["system", "user"] = Field(
        default="system", description="Join memories to the system message, or prepend to the latest user message.")
    memorize_mode: Literal["auto", "fast", "fine"] = "auto"
    memorize_tool_messages: bool = False
    background: bool = Field(default=False, description="Memorize as a durable background task.")
    info: dict[str, Any] = Field(default_factory=dict)

    _engine: Any = PrivateAttr()
    _history: list[LlamaChatMessage] = PrivateAttr(default_factory=list)
    _pending: list[LlamaChatMessage] = PrivateAttr(default_factory=list)
    _cache: tuple[str, str] | None = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, engine: MemoryBackend, **data: Any) -> None:
        super().__init__(**data)
        require_user(self.user_id, "MemosMemory")
        self._engine = check_backend(engine)

    @classmethod
    def class_name(cls) -> str:
        return "MemosMemory"

    @property
    def engine(self) -> MemoryBackend:
        return self._engine  # type: ignore[no-any-return]

    @classmethod
    def from_defaults(  # type: ignore[override]
        cls,
        *,
        user_id: str,
        engine: MemoryBackend | None = None,
        session_id: str | None = None,
        chat_history: list[LlamaChatMessage] | None = None,
        llm: Any = None,
        embed_model: Any = None,
        settings: Settings | None = None,
        prefix: str = "Memos",
        token_limit: int | None = None,
        **options: Any,
    ) -> MemosMemory:
        """Build a memory. Without ``engine`` one is made from settings, using the LlamaIndex
        ``embed_model`` / ``llm`` if given. Keyword arguments that are not fields of this class are
        recall options (``top_k``, ``relativity`` ...)."""
        if engine is None:
            from memos_integrations.llama_index.adapters import engine_from_llama_index

            engine = engine_from_llama_index(settings=settings, embed_model=embed_model, llm=llm, prefix=prefix)
        if token_limit is None and llm is not None:
            window = getattr(getattr(llm, "metadata", None), "context_window", None)
            token_limit = int(window * 0.75) if isinstance(window, int) and window > 0 else None
        fields = {k: options.pop(k) for k in list(options) if k in cls.model_fields}
        recall = recall_options(options, "MemosMemory")
        memory = cls(engine, user_id=user_id, recall=recall, **({"session_id": session_id} if session_id else {}),
                     **({"token_limit": token_limit} if token_limit else {}), **fields)
        if chat_history:
            memory.set(chat_history)
        return memory

    # ------------------------------------------------------------------------------------------
    # recall + short-term window

    def _query(self, input: str | LlamaChatMessage | None) -> str:
        text = text_of(input) if input is not None else ""
        return text if text.strip() else last_user_text(self._history)

    def _recall_request(self, query: str) -> RecallRequest:
        return self.recall.to_request(query, user_id=self.user_id, session_id=self.recall.session_id or self.session_id)

    def _cached(self, query: str) -> str | None:
        cache = self._cache
        return cache[1] if cache is not None and cache[0] == query else None

    def _remember(self, query: str, result: RecallResult) -> str:
        prompt = injected_prompt(result)
        self._cache = (query, prompt)
        return prompt

    def _tokens(self, text: str) -> int:
        return len(self.tokenizer_fn(text)) if text else 0

    def _window(self, budget: int) -> list[LlamaChatMessage]:
        """The latest messages that fit ``budget`` tokens (never starting with a dangling tool result)."""
        kept: list[LlamaChatMessage] = []
        used = 0
        for message in reversed(self._history):
            cost = self._tokens(text_of(message)) + 4
            if kept and used + cost > budget:
                break
            kept.append(message)
            used += cost
        kept.reverse()
        while len(kept) > 1 and role_of(kept[0]) in ("tool", "assistant") and len(kept) < len(self._history):
            kept.pop(0)
        return kept

    def _compose(self, prompt: str, initial_token_count: int) -> list[LlamaChatMessage]:
        budget = max(self.token_limit - initial_token_count - self._tokens(prompt), 1)
        history = [m.model_copy(deep=True) for m in self._window(budget)]
        return inject_messages(history, prompt, placement=self.insert_method) if prompt else history

    def get(self, input: str | LlamaChatMessage | None = None, initial_token_count: int = 0,  # type: ignore[override]
            **kwargs: Any) -> list[LlamaChatMessage]:
        """Short-term history with the memories recalled for ``input`` (default: the latest user message)."""
        query = self._query(input)
        prompt = self._cached(query) if query.strip() else ""
        if prompt is None:
            prompt = self._remember(query, backend_recall(self.engine, self._recall_request(query)))
        return self._compose(prompt, initial_token_count)

    async def aget(self, input: str | LlamaChatMessage | None = None, initial_token_count: int = 0,  # type: ignore[override]
                   **kwargs: Any) -> list[LlamaChatMessage]:
        query = self._query(input)
        prompt = self._cached(query) if query.strip() else ""
        if prompt is None:
            prompt = self._remember(query, await backend_arecall(self.engine, self._recall_request(query)))
        return self._compose(prompt, initial_token_count)

    def get_all(self) -> list[LlamaChatMessage]:
        return list(self._history)

    async def aget_all(self) -> list[LlamaChatMessage]:
        return self.get_all()

    # ------------------------------------------------------------------------------------------
    # put: every finished turn is memorized

    def _append(self, messages: list[LlamaChatMessage]) -> MemorizeRequest | None:
        """Buffer messages; when a turn ends, return the memorize request for it."""
        with self._lock:
            self._history.extend(messages)
            self._pending.extend(messages)
            last = messages[-1] if messages else None
            if last is None or role_of(last) != "assistant" or calls_tools(last) or not text_of(last).strip():
                return None
            return self._take_pending()

    def _take_pending(self) -> MemorizeRequest | None:
        pending, self._pending = self._pending, []
        self._cache = None
        return memorize_request(to_chat_messages(pending, include_tools=self.memorize_tool_messages),
                                user_id=self.user_id, session_id=self.session_id, cube_ids=self.recall.cube_ids,
                                info=self.info, mode=self.memorize_mode)

    def _memorize(self, request: MemorizeRequest | None) -> None:
        if request is not None:
            backend_memorize(self.engine, request, sync=not self.background)

    async def _amemorize(self, request: MemorizeRequest | None) -> None:
        if request is not None:
            await backend_amemorize(self.engine, request, sync=not self.background)

    def put(self, message: LlamaChatMessage) -> None:
        self._memorize(self._append([message]))

    async def aput(self, message: LlamaChatMessage) -> None:
        await self._amemorize(self._append([message]))

    def put_messages(self, messages: list[LlamaChatMessage]) -> None:
        self._memorize(self._append(list(messages)))

    async def aput_messages(self, messages: list[LlamaChatMessage]) -> None:
        await self._amemorize(self._append(list(messages)))

    def flush(self) -> None:
        """Memorize the messages of an unfinished turn now."""
        with self._lock:
            request = self._take_pending()
        self._memorize(request)

    async def aflush(self) -> None:
        with self._lock:
            request = self._take_pending()
        await self._amemorize(request)

    # ------------------------------------------------------------------------------------------
    # set / reset (short-term only)

    def set(self, messages: list[LlamaChatMessage]) -> None:
        with self._lock:
            self._history = list(messages)
            self._pending = []
            self._cache = None

    async def aset(self, messages: list[LlamaChatMessage]) -> None:
        self.set(messages)

    def reset(self) -> None:
        self.set([])

    async def areset(self) -> None:
        self.reset()
