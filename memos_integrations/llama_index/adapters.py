"""Use LlamaIndex models with the engine: a LlamaIndex embedding model as LangChain
:class:`Embeddings`, a LlamaIndex LLM as a LangChain chat model, and an engine built from them.

Example::

    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.llms import MockLLM

    engine = engine_from_llama_index(embed_model=MockEmbedding(embed_dim=8), llm=MockLLM(), prefix="Llama")

Vectors from different embedding models must not share collections: give each model its own
``prefix``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.base.llms.types import ChatMessage as LlamaChatMessage
from llama_index.core.llms import LLM
from pydantic import ConfigDict, Field

from memos_integrations.config import Settings
from memos_integrations.errors import ConfigurationError
from memos_integrations.langchain.messages import message_role


class LlamaIndexEmbeddings(Embeddings):
    """A LlamaIndex :class:`BaseEmbedding` (``embed_model``) as LangChain ``Embeddings`` for the engine."""

    def __init__(self, embed_model: BaseEmbedding) -> None:
        if not isinstance(embed_model, BaseEmbedding):
            raise ConfigurationError(
                f"embed_model must be a llama_index BaseEmbedding, got {type(embed_model).__name__}")
        self.embed_model = embed_model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(v) for v in self.embed_model.get_text_embedding_batch(texts)]

    def embed_query(self, text: str) -> list[float]:
        return list(self.embed_model.get_query_embedding(text))

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(v) for v in await self.embed_model.aget_text_embedding_batch(texts)]

    async def aembed_query(self, text: str) -> list[float]:
        return list(await self.embed_model.aget_query_embedding(text))


def _to_llama(messages: Sequence[BaseMessage]) -> list[LlamaChatMessage]:
    out = []
    for message in messages:
        role = message_role(message)
        out.append(LlamaChatMessage(role=role if role != "function" else "tool", content=str(message.text)))
    return out


class LlamaIndexChatModel(BaseChatModel):
    """A LlamaIndex :class:`LLM` as a LangChain chat model (plain text chat, sync and async), so
    the engine's LLM steps can run on the model a LlamaIndex user already has."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: LLM = Field(exclude=True)

    @property
    def _llm_type(self) -> str:
        return f"llama-index:{self.llm.class_name()}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"llama_index_llm": self.llm.class_name()}

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        response = self.llm.chat(_to_llama(messages), **kwargs)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=response.message.content or ""))])

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        response = await self.llm.achat(_to_llama(messages), **kwargs)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=response.message.content or ""))])


def engine_from_llama_index(
    *,
    settings: Settings | None = None,
    embed_model: BaseEmbedding | None = None,
    llm: LLM | None = None,
    prefix: str = "Memos",
    **kwargs: Any,
) -> Any:
    """``MemoryEngine.from_settings`` with a LlamaIndex ``embed_model`` and/or ``llm``.

    Without ``embed_model`` the engine's default (local multilingual-e5-small) is used; without
    ``llm`` the chat model comes from ``CHAT_MODEL_LIST`` (or none: fast memorize only).
    """
    from memos_integrations.engine import MemoryEngine

    return MemoryEngine.from_settings(
        settings, prefix=prefix,
        embeddings=LlamaIndexEmbeddings(embed_model) if embed_model is not None else None,
        chat_model=LlamaIndexChatModel(llm=llm) if llm is not None else None,
        **kwargs,
    )
