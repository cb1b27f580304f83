"""One relevance calibration and one impression model, checked with the DEFAULT embedding model
(multilingual-e5-small, no injected calibration) on the real Weaviate. Only the chat model is a
scripted fake LLM (LangChain GenericFakeChatModel) that plays the fine-mode extractor and judge."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import Field

from memos_integrations.config import Settings
from memos_integrations.domain.requests import MemorizeRequest, RecallRequest
from memos_integrations.engine import MemoryEngine
from memos_integrations.llm.embeddings import default_embeddings
from memos_integrations.storage.store import MemoryStore


class ScriptedFakeLLM(GenericFakeChatModel):
    """Fake LLM: answers from a script and records every prompt."""

    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> Any:
        self.prompts.append(messages)
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def extraction(key: str, value: str) -> str:
    return json.dumps({"summary": value, "facts": [{"key": key, "value": value, "memory_type": "UserMemory",
                                                    "message_indexes": [0]}]})


@pytest.fixture(scope="module")
def store(weaviate_client: Any) -> MemoryStore:
    store = MemoryStore(weaviate_client, prefix="Dflt")
    store.setup()
    return store


@pytest.fixture
def user() -> str:
    return f"u_{uuid.uuid4().hex[:10]}"


def fine(store: MemoryStore, user: str, said: str, *answers: str) -> tuple[Any, ScriptedFakeLLM]:
    """Fine memorize through a MemoryEngine on the default embedder with a scripted fake LLM."""
    llm = ScriptedFakeLLM(messages=iter([AIMessage(content=a) for a in answers]))
    engine = MemoryEngine(store, default_embeddings(), llm, settings=Settings(), start_tasks=False)
    try:
        result = engine.memorize(MemorizeRequest(user_id=user, mode="fine",
                                                 messages=[{"role": "user", "content": said}]))
    finally:
        engine.tasks.close()
    return result, llm


@pytest.mark.parametrize(("stored", "paraphrase", "unrelated"), [
    ("The user lives in Shanghai", "The user's home is in Shanghai", "The user enjoys playing tennis on weekends"),
    ("用户住在上海", "用户的家在上海", "用户喜欢周末打网球"),
])
def test_reconcile_threshold_separates_paraphrase_from_unrelated_default_embedder_fake_llm(
        store: MemoryStore, user: str, stored: str, paraphrase: str, unrelated: str) -> None:
    first, _ = fine(store, user, stored, extraction("home", stored))
    assert first.llm_calls == 1 and len(first.memories) == 1
    # a paraphrase is close enough to be compared: the judge is asked about the stored memory
    para, llm = fine(store, user, paraphrase, extraction("residence", paraphrase),
                     '{"facts": [{"index": 0, "decision": "duplicate", "targets": ["M1"]}]}')
    assert para.llm_calls == 2, "the paraphrase was not compared with the stored memory"
    assert stored in str(llm.prompts[1][-1].content)
    assert para.reinforced_ids == [first.memories[0].id]
    # an unrelated memory of the same user is not: no reconciliation call, stored as new
    other, llm = fine(store, user, unrelated, extraction("hobby", unrelated))
    assert other.llm_calls == 1 and len(other.memories) == 1 and other.reinforced_ids == []


def test_mentioned_again_keeps_a_higher_impression_after_recall_default_embedder_fake_llm(
        store: MemoryStore, user: str) -> None:
    twice, once = "The user's cat is called Tuanzi", "The user's favourite tea is oolong"
    fine(store, user, "My cat is called Tuanzi", extraction("pet", twice))
    fine(store, user, "My favourite tea is oolong", extraction("tea", once))
    again, _ = fine(store, user, "Did I say my cat is called Tuanzi?", extraction("pet", twice))
    assert again.llm_calls == 1 and len(again.reinforced_ids) == 1  # exact duplicate: a mention

    engine = MemoryEngine(store, default_embeddings(), settings=Settings(), start_tasks=False)
    try:
        later = datetime.now(UTC) + timedelta(days=45)

        def impressions() -> dict[str, float]:
            result = engine.recall(RecallRequest(user_id=user, query="my cat Tuanzi and my favourite tea",
                                                 reference_time=later, relativity=0, top_k=5))
            return {item.record.memory: item.impression for item in result.facts}

        before = impressions()
        assert before[twice] > before[once]
        engine.flush()  # the recall reinforced both
        after = impressions()
        # recall strengthens, never resets: the mentioned memory does not drop back after its recall
        assert after[twice] >= before[twice] and after[once] >= before[once], (before, after)
        assert after[twice] > after[once], after
        stored = {m.memory: m for m in engine.list_memories(user)}
        assert stored[twice].mention_count == 2 and stored[twice].recall_count >= 1
        assert stored[twice].impression <= 1.0 and stored[once].impression <= 1.0
    finally:
        engine.tasks.close()
