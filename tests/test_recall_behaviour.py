"""Recall behaviour against the real embedded Weaviate (HashEmbeddings; the LLM, where used, is a
LangChain fake and the test says "fake LLM")."""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from memos_integrations.config import Settings
from memos_integrations.domain.messages import inject_memory
from memos_integrations.domain.models import MemoryRecord, MemoryStatus, MemoryType, RelationRecord
from memos_integrations.domain.requests import ChatMessage, RecallRequest
from memos_integrations.engine import MemoryEngine
from memos_integrations.pipeline.prompts import REMINDER, build_memory_prompt
from memos_integrations.storage.store import MemoryStore

CN = timezone(timedelta(hours=8))


class WordHashEmbeddings(Embeddings):
    """Deterministic signed feature hashing of words (English) and characters + bigrams (Chinese):
    texts sharing no words have a cosine near 0, so the relativity threshold is easy to reason about."""

    dim = 2048

    def _vec(self, text: str) -> list[float]:
        text = text.lower()
        grams = re.findall(r"[a-z0-9]+", text)
        cjk = re.findall(r"[\u4e00-\u9fff]", text)
        grams += cjk + [a + b for a, b in pairwise(cjk)]
        vec = np.zeros(self.dim, dtype=np.float32)
        for g in grams:
            h = zlib.crc32(g.encode())
            vec[h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
        norm = float(np.linalg.norm(vec))
        return (vec / norm if norm else vec).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)


def make_engine(store: MemoryStore, chat_model: Any = None, settings: Settings | None = None) -> MemoryEngine:
    return MemoryEngine(store, WordHashEmbeddings(), chat_model, settings=settings or Settings(), start_tasks=False,
                        relativity_range=RANGE)


RANGE = (0.1, 0.7)


@pytest.fixture(scope="module")
def rengine(weaviate_client):  # type: ignore[no-untyped-def]
    """Own engine (prefix "Rc") with word-hashing embeddings and a cosine range calibrated for them."""
    store = MemoryStore(weaviate_client, prefix="Rc")
    store.setup()
    engine = make_engine(store)
    yield engine
    engine.tasks.close()


def put(engine: MemoryEngine, cube: str, texts: list[str], **fields: Any) -> list[MemoryRecord]:
    vectors = engine.embeddings.embed_documents(texts)
    records = [MemoryRecord(cube_id=cube, user_id=cube, memory=t, vector=v, **fields) for t, v in zip(texts, vectors)]
    engine.store.insert_many(records).raise_for_errors()
    return records


def ask(engine: MemoryEngine, cube: str, query: str, **kw: Any):  # type: ignore[no-untyped-def]
    kw.setdefault("reinforce", False)
    return engine.recall(RecallRequest(user_id=cube, query=query, **kw))


def texts(items: list) -> list[str]:  # type: ignore[type-arg]
    return [i.record.memory for i in items]


def test_relativity_threshold_drops_unrelated_and_zero_disables(rengine, cube) -> None:
    put(rengine, cube, ["Alice likes green tea in the morning", "quarterly tax filing deadline zzqx"])
    strict = ask(rengine, cube, "does Alice like green tea?")
    assert texts(strict.facts) == ["Alice likes green tea in the morning"]
    assert all(0.0 <= i.relativity <= 1.0 for i in strict.facts)
    assert strict.facts[0].relativity >= 0.45
    everything = ask(rengine, cube, "does Alice like green tea?", relativity=0)
    assert len(everything.facts) == 2
    assert everything.facts[0].record.memory.startswith("Alice")


def test_per_kind_limits_default_9_9_6_6(rengine, cube) -> None:
    put(rengine, cube, [f"coffee note number {i} about coffee" for i in range(14)])
    put(rengine, cube, [f"coffee preference {i}: likes coffee" for i in range(12)], memory_type=MemoryType.PREFERENCE)
    put(rengine, cube, [f"coffee tool {i} coffee api" for i in range(8)], memory_type=MemoryType.TOOL_TRAJECTORY)
    put(rengine, cube, [f"coffee skill {i} brewing coffee" for i in range(8)], memory_type=MemoryType.SKILL)
    result = ask(rengine, cube, "coffee", relativity=0, dedup="no")
    assert (len(result.facts), len(result.preferences), len(result.tools), len(result.skills)) == (9, 9, 6, 6)
    small = ask(rengine, cube, "coffee", relativity=0, top_k=3, include_preference=False, skill_top_k=0)
    assert (len(small.facts), len(small.preferences), len(small.skills)) == (3, 0, 0)
    with pytest.raises(ValueError):
        RecallRequest(user_id=cube, query="coffee", top_k=26)


def test_session_boost_is_soft(rengine, cube) -> None:
    put(rengine, cube, ["the meeting room is on floor three"], session_id="s1")
    put(rengine, cube, ["the meeting room is on floor three!"], session_id="s2")
    for session in ("s1", "s2"):
        result = ask(rengine, cube, "which floor is the meeting room on", session_id=session, dedup="no")
        assert result.facts[0].record.session_id == session
        assert {i.record.session_id for i in result.facts} == {"s1", "s2"}  # boost, never a filter


def _two_meals(engine: MemoryEngine, cube: str, inside: str, outside: str, when_in: datetime, when_out: datetime) -> None:
    put(engine, cube, [inside], happened_at=when_in)
    put(engine, cube, [outside], happened_at=when_out)


@pytest.mark.parametrize("first", ["火锅", "寿司"])
def test_chinese_time_cue_last_night_boosts_that_window(rengine, cube, first: str) -> None:
    ref = datetime(2025, 8, 10, 10, 0, tzinfo=CN)
    other = "寿司" if first == "火锅" else "火锅"
    _two_meals(rengine, cube, f"晚饭吃了{first}", f"晚饭吃了{other}",
               datetime(2025, 8, 9, 20, 0, tzinfo=CN), datetime(2025, 7, 1, 20, 0, tzinfo=CN))
    result = ask(rengine, cube, "我昨晚晚饭吃了什么？", reference_time=ref, relativity=0)
    assert result.time_cue == "昨晚"
    assert result.time_window is not None and result.time_window[0] == datetime(2025, 8, 9, 17, tzinfo=CN)
    assert result.facts[0].record.memory == f"晚饭吃了{first}"
    assert "相关时间范围" in result.memory_prompt


def test_english_time_cue_last_week_boosts_that_window(rengine, cube) -> None:
    ref = datetime(2025, 3, 12, 9, 0, tzinfo=UTC)  # a Wednesday; last week = Mar 3-9
    _two_meals(rengine, cube, "went hiking with Bob in the hills", "went hiking with Bob in the hills again",
               datetime(2025, 3, 5, 10, tzinfo=UTC), datetime(2025, 1, 20, 10, tzinfo=UTC))
    result = ask(rengine, cube, "where did I go hiking with Bob last week?", reference_time=ref, relativity=0)
    assert result.time_cue == "last week"
    assert result.facts[0].record.happened_at == datetime(2025, 3, 5, 10, tzinfo=UTC)
    in_may = ask(rengine, cube, "hiking with Bob in January", reference_time=ref, relativity=0)
    assert in_may.facts[0].record.happened_at == datetime(2025, 1, 20, 10, tzinfo=UTC)


def test_forgetting_curve_ranks_fresh_over_faded_and_recall_reinforces(rengine, cube) -> None:
    now = datetime.now(UTC)
    old = put(rengine, cube, ["my locker code is 4512"], last_reinforced_at=now - timedelta(days=400))[0]
    fresh = put(rengine, cube, ["my locker code is 4512."], last_reinforced_at=now - timedelta(hours=1))[0]
    result = ask(rengine, cube, "what is my locker code", relativity=0, dedup="no")
    by_id = {i.record.id: i for i in result.facts}
    assert by_id[fresh.id].impression > 0.9
    assert by_id[old.id].impression < 0.2
    assert result.facts[0].record.id == fresh.id
    assert result.max_impression == pytest.approx(by_id[fresh.id].impression)
    # recall reinforces in the background: counters and impression go up
    ask(rengine, cube, "what is my locker code", relativity=0, dedup="no", reinforce=True)
    rengine.flush()
    again = rengine.store.get(old.id)
    assert again is not None and again.recall_count == 1 and again.last_recalled_at is not None
    assert again.impression > by_id[old.id].impression + 0.3


def test_concurrent_recalls_each_count_once(rengine, cube) -> None:
    """Eight recalls of the same memory at once (threads, as under a server's load) raise its
    ``recall_count`` by eight: each reinforcement starts from the stored counters, not from the
    copy the recall read, so none is lost when several are written together."""
    from concurrent.futures import ThreadPoolExecutor

    first = put(rengine, cube, ["my bike lock combination is 7731"])[0]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: ask(rengine, cube, "what is my bike lock combination", relativity=0,
                                              reinforce=True), range(8)))
    assert all(r.facts and r.facts[0].record.id == first.id for r in results)
    rengine.flush()
    once = rengine.store.get(first.id)
    assert once is not None and once.recall_count == 8
    ask(rengine, cube, "what is my bike lock combination", relativity=0, reinforce=True)
    rengine.flush()
    again = rengine.store.get(first.id)
    assert again is not None and again.recall_count == 9
    assert again.last_recalled_at is not None and once.last_recalled_at is not None
    assert again.last_recalled_at > once.last_recalled_at


def test_invalid_excluded_and_linked_new_added_on_request(rengine, cube) -> None:
    new = put(rengine, cube, ["moved to a flat in Munich last spring"])[0]
    old = put(rengine, cube, ["I live in Berlin, Kreuzberg"], status=MemoryStatus.INVALID, superseded_by=new.id)[0]
    plain = ask(rengine, cube, "do I live in Berlin Kreuzberg", relativity=0)
    assert old.id not in {i.record.id for i in plain.facts}
    linked = ask(rengine, cube, "do I live in Berlin Kreuzberg", relativity=0.3,
                 include_linked_new_from_invalid=True)
    ids = {i.record.id: i for i in linked.facts}
    assert new.id in ids and ids[new.id].linked_from == old.id
    # the invalid memory comes back too, right after the newer one, so the change can be told (issue 14)
    order = [i.record.id for i in linked.facts]
    assert order.index(old.id) == order.index(new.id) + 1 and ids[old.id].record.status is MemoryStatus.INVALID


def test_association_depth_one_and_two(rengine, cube) -> None:
    put(rengine, cube, ["Alice started a new job"], entities=["Alice"])
    rels = [("Alice", "works_at", "Acme"), ("Acme", "located_in", "Berlin"), ("Berlin", "capital_of", "Germany")]
    rengine.store.upsert_relations([
        RelationRecord(cube_id=cube, user_id=cube, source=s, relation=r, target=t, impression=0.7) for s, r, t in rels
    ])
    one = ask(rengine, cube, "where does Alice work?", associative=True, recall_deep=1, relativity=0)
    assert len(one.associations) == 1
    links = {(lk.source_name, lk.target_name): lk for lk in one.associations[0].links}
    assert set(links) == {("Alice", "Acme")}
    assert links[("Alice", "Acme")].distance == 1
    assert links[("Alice", "Acme")].relations == [{"relation": "works_at", "maxImpression": 0.7}]
    two = ask(rengine, cube, "where does Alice work?", associative=True, recall_deep=2, relativity=0)
    links2 = {(lk.source_name, lk.target_name): lk.distance for lk in two.associations[0].links}
    assert links2 == {("Alice", "Acme"): 1, ("Acme", "Berlin"): 2}
    assert {n.name for n in two.associations[0].nodes} == {"Alice", "Acme", "Berlin"}
    off = ask(rengine, cube, "where does Alice work?", relativity=0)
    assert off.associations == []


def test_common_sense_global_agent_and_request_scopes(rengine, cube) -> None:
    put(rengine, cube, ["I water the plants on Sunday"])
    glob, agent, kb = f"{cube}_global", f"{cube}__common_sense", f"{cube}_kb"
    for c, text in ((glob, "plants need water and light"), (agent, "plants on this farm are watered by drip"),
                    (kb, "cactus plants need little water")):
        put(rengine, c, [text], memory_type=MemoryType.KNOWLEDGE)
    configured = make_engine(rengine.store, settings=Settings(MEMOS_GLOBAL_COMMON_SENSE_CUBE=glob))
    try:
        base = ask(configured, cube, "how often should plants get water", relativity=0)
        assert texts(base.knowledge) == ["plants need water and light"]
        assert "plants need water and light" not in texts(base.facts)
        full = ask(configured, cube, "how often should plants get water", relativity=0, use_agent_common_sense=True,
                   common_sense_ids=[kb])
        assert set(texts(full.knowledge)) == {"plants need water and light", "plants on this farm are watered by drip",
                                              "cactus plants need little water"}
        assert "常识" in ask(configured, cube, "植物 plants water", relativity=0).memory_prompt
        none = ask(configured, cube, "how often should plants get water", relativity=0, use_common_sense=False,
                   common_sense_ids=[kb])
        assert none.knowledge == []
        unconfigured = ask(rengine, cube, "how often should plants get water", relativity=0)
        assert "plants need water and light" not in texts(unconfigured.knowledge)
    finally:
        configured.tasks.close()


def test_mmr_dedup_keeps_one_of_near_identical(rengine, cube) -> None:
    dup = "the wifi password is sunflower42"
    put(rengine, cube, [dup, dup, dup + " ", "guest wifi network is called Orchard"])
    mmr = ask(rengine, cube, "what is the wifi password", relativity=0)
    assert texts(mmr.facts).count(dup) + texts(mmr.facts).count(dup + " ") == 1
    assert "guest wifi network is called Orchard" in texts(mmr.facts)
    none = ask(rengine, cube, "what is the wifi password", relativity=0, dedup="no")
    assert len(none.facts) == 4


def test_memory_prompt_in_chinese_and_english(rengine, cube) -> None:
    when = datetime(2025, 5, 3, 12, 30, tzinfo=UTC)
    put(rengine, cube, ["晓雯: 我对乳糖不耐受", "Xiaowen is lactose intolerant"], happened_at=when)
    put(rengine, cube, ["喜欢喝燕麦奶 oat milk"], memory_type=MemoryType.PREFERENCE,
        extra={"preference_type": "explicit_preference"})
    put(rengine, cube, ["search_menu(query) works best with dish names 乳糖 milk"],
        memory_type=MemoryType.TOOL_TRAJECTORY, extra={"experience": "use English dish names"})
    zh = ask(rengine, cube, "我能喝牛奶吗？乳糖 奶", relativity=0)
    assert zh.language == "zh"
    for part in ("## 事实记忆", "2025-05-03 12:30", "## 偏好记忆", "燕麦奶", "(显式)", "## 工具经验", "use English dish names"):
        assert part in zh.memory_prompt
    assert "燕麦奶" in zh.preference_note
    en = ask(rengine, cube, "can Xiaowen drink milk? lactose", relativity=0)
    for part in ("## Facts", "[2025-05-03 12:30] Xiaowen is lactose intolerant", "## Preferences", "(explicit)"):
        assert part in en.memory_prompt
    messages = [ChatMessage(role="system", content="You are kind."), ChatMessage(role="user", content="Hi")]
    out = inject_memory(messages, en.memory_prompt, reminder=REMINDER["en"])
    assert out[0].text.startswith("You are kind.") and "## Facts" in out[0].text
    assert out[-1].text.startswith("Hi") and out[-1].text != "Hi"
    assert messages[-1].text == "Hi"
    assert build_memory_prompt(en) == en.memory_prompt or "## Facts" in build_memory_prompt(en)


def test_fine_and_mixture_fall_back_to_fast_without_llm(rengine, cube) -> None:
    put(rengine, cube, ["my bike is a blue Brompton"])
    for mode in ("fine", "mixture"):
        result = ask(rengine, cube, "what bike do I have", mode=mode, relativity=0)
        assert result.mode == "fast"
        assert any("fell back to 'fast'" in w for w in result.warnings)
        assert texts(result.facts) == ["my bike is a blue Brompton"]
        assert result.llm_calls == 0


def test_fine_mode_rewrites_and_filters_with_fake_llm(rengine, cube) -> None:
    """fake LLM: the first reply is the rewritten query, the second the kept candidate numbers."""
    put(rengine, cube, ["my bike is a blue Brompton", "my bike lock code is 1234"])
    fake = FakeListChatModel(responses=["what colour is my bike", "[1]"])
    engine = make_engine(rengine.store, fake)
    try:
        result = engine.recall(RecallRequest(
            user_id=cube, query="what colour is it?", mode="fine", relativity=0, reinforce=False,
            chat_history=[{"role": "user", "content": "I ride my bike to work"}]))
        assert result.mode == "fine" and result.llm_calls == 2
        assert result.rewritten_query == "what colour is my bike"
        assert len(result.facts) == 1
    finally:
        engine.tasks.close()


def test_mixture_adds_memories_recalled_earlier_in_the_session(rengine, cube) -> None:
    """fake LLM keeps every candidate; mixture brings back the earlier session's recall."""
    put(rengine, cube, ["the dentist appointment is on Friday", "my sister Lena lives in Graz"])
    fake = FakeListChatModel(responses=["[1, 2, 3]"] * 4)
    engine = make_engine(rengine.store, fake)
    try:
        first = engine.recall(RecallRequest(user_id=cube, query="when is the dentist appointment", session_id="m1",
                                            mode="mixture", reinforce=False))
        assert texts(first.facts) == ["the dentist appointment is on Friday"]
        engine.store.delete([first.facts[0].record.id])  # gone from the index: only the session cache has it
        later = engine.recall(RecallRequest(user_id=cube, query="the dentist appointment on Friday", session_id="m1",
                                            mode="mixture", reinforce=False, relativity=0.3))
        assert "the dentist appointment is on Friday" in texts(later.facts)
        other = engine.recall(RecallRequest(user_id=cube, query="the dentist appointment on Friday", session_id="m2",
                                            mode="mixture", reinforce=False, relativity=0.3))
        assert "the dentist appointment is on Friday" not in texts(other.facts)
    finally:
        engine.tasks.close()
