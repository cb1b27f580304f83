"""Fine memorize with a scripted fake LLM over a real Weaviate: extraction of every kind (zh + en),
reconciliation (duplicate -> reinforced, contradiction -> invalid + linked), error handling,
LLM-call budget. Only the chat model is fake (LangChain GenericFakeChatModel)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import Field

from memos_integrations.config import Settings
from memos_integrations.domain.models import MemoryStatus, MemoryType
from memos_integrations.domain.requests import MemorizeRequest, RecallRequest
from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import ExtractionError
from memos_integrations.llm.embeddings import HashEmbeddings
from memos_integrations.pipeline.extract import Extraction
from memos_integrations.storage.store import MemoryStore


class RecordingFakeLLM(GenericFakeChatModel):
    """A fake LLM that answers from a script and records the prompts it was sent."""

    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> Any:
        self.prompts.append(messages)
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def fake_llm(*answers: str) -> RecordingFakeLLM:
    return RecordingFakeLLM(messages=iter([AIMessage(content=a) for a in answers]))


@pytest.fixture(scope="module")
def fine_engine(weaviate_client: Any) -> Iterator[MemoryEngine]:
    store = MemoryStore(weaviate_client, prefix="Fine")
    store.setup()
    engine = MemoryEngine(store, HashEmbeddings(dim=256), settings=Settings())
    yield engine
    engine.tasks.close()


def run_fine(engine: MemoryEngine, llm: RecordingFakeLLM, **request: Any) -> Any:
    """Fine memorize through an engine built with this (fake) chat model, on the shared store."""
    with_llm = MemoryEngine(engine.store, engine.embeddings, llm, settings=engine.settings, start_tasks=False)
    try:
        return with_llm.memorize(MemorizeRequest(mode="fine", **request))
    finally:
        with_llm.tasks.close()


# ---------------------------------------------------------------------------------------------
# extraction of every kind

SEARCH_SCHEMA = {"name": "search_restaurant", "description": "搜索餐厅",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}

ZH_ANSWER = json.dumps({
    "summary": "我昨晚和同事小王吃了火锅，想找一家安静的餐厅。",
    "facts": [{"key": "聚餐", "value": "用户昨晚和同事小王在海底捞吃火锅", "memory_type": "UserMemory",
               "tags": ["饮食"], "confidence": 0.95, "entities": ["小王", "海底捞"], "happened_at": None,
               "time_expression": "昨晚", "message_indexes": [1]}],
    "preferences": [
        {"preference": "用户喜欢吃辣", "preference_type": "explicit_preference", "reasoning": "用户明确说喜欢吃辣",
         "topic": "口味", "message_indexes": [1]},
        {"preference": "用户可能偏好安静的餐厅", "preference_type": "implicit_preference",
         "reasoning": "用户抱怨那家店太吵", "topic": "餐厅环境", "message_indexes": [3]}],
    "tool_trajectories": [{"tool": "search_restaurant", "success": False, "error_type": "timeout",
                           "experience": "查询超时时应缩小范围重试", "trajectory": "调用 search_restaurant(city=上海) 超时",
                           "message_indexes": [4, 5]}],
    "skills": [{"name": "订餐流程", "description": "帮用户预订餐厅的方法", "procedure": ["确认人数", "搜索餐厅", "电话预订"],
                "experience": ["高峰期提前预订"], "examples": ["周五晚 4 人"]}],
    "relations": [{"source": "小王", "relation": "同事", "target": "用户"}],
}, ensure_ascii=False)

ZH_MESSAGES = [
    {"role": "system", "content": f"你是助手。<tool_schema>{json.dumps(SEARCH_SCHEMA, ensure_ascii=False)}</tool_schema>"},
    {"role": "user", "content": "我昨晚和同事小王去海底捞吃火锅了，我特别喜欢吃辣。",
     "chat_time": "2025-03-02T10:00:00+08:00", "message_id": "m1"},
    {"role": "assistant", "content": "听起来很棒！"},
    {"role": "user", "content": "不过那家店太吵了。帮我找一家上海的安静餐厅吧。"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "search_restaurant", "arguments": '{"city": "上海"}'}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "error: timeout"},
    {"role": "assistant", "content": "查询超时了，我缩小范围再试。"},
]


def test_fine_extraction_chinese_every_kind_fake_llm(fine_engine: MemoryEngine, cube: str) -> None:
    llm = fake_llm(ZH_ANSWER)
    result = run_fine(fine_engine, llm, user_id="zh1", cube_ids=[cube], messages=ZH_MESSAGES,
                      info={"app": "test"}, tags=["t1"])
    assert result.mode == "fine" and result.llm_calls == 1  # nothing stored yet: no reconciliation call
    assert "你是长期记忆系统的记忆提取器" in llm.prompts[0][0].content  # Chinese prompt for a Chinese chat
    assert "[1] (2025-03-02T10:00+08:00)" in llm.prompts[0][1].content
    by_type: dict[MemoryType, list[Any]] = {}
    for record in fine_engine.store.list(cube, limit=50):
        by_type.setdefault(record.memory_type, []).append(record)

    fact = by_type[MemoryType.USER][0]
    assert fact.key == "聚餐" and "海底捞" in fact.memory and fact.language == "zh"
    assert fact.happened_at == datetime(2025, 3, 1, 20, 0, tzinfo=timezone(timedelta(hours=8)))
    assert set(fact.entities) == {"小王", "海底捞"} and "t1" in fact.tags and "mode:fine" in fact.tags
    assert fact.info == {"app": "test"} and fact.sources[0]["message_id"] == "m1"

    prefs = {r.extra["preference_type"]: r for r in by_type[MemoryType.PREFERENCE]}
    assert prefs["explicit_preference"].memory == "用户喜欢吃辣"
    assert "太吵" in prefs["implicit_preference"].extra["reasoning"]

    trajectory = by_type[MemoryType.TOOL_TRAJECTORY][0]
    assert trajectory.key == "search_restaurant" and trajectory.extra["correctness"] == "failed"
    assert trajectory.extra["tool_used_status"][0]["error_type"] == "timeout"
    assert "缩小范围" in trajectory.extra["experience"]

    schema = by_type[MemoryType.TOOL_SCHEMA][0]
    assert schema.key == "search_restaurant" and json.loads(schema.memory)["name"] == "search_restaurant"

    skill = by_type[MemoryType.SKILL][0]
    assert skill.key == "订餐流程" and "2. 搜索餐厅" in skill.extra["procedure"]
    assert skill.extra["experience"] == ["高峰期提前预订"]

    relations = fine_engine.store.all_relations(cube)
    assert [(r.source, r.relation, r.target) for r in relations] == [("小王", "同事", "用户")]
    assert fact.id in relations[0].memory_ids
    assert result.summary.startswith("我昨晚")

    found = fine_engine.recall(RecallRequest(user_id="zh1", cube_ids=[cube], query="海底捞 火锅", relativity=0))
    assert found.facts and "海底捞" in found.facts[0].record.memory


EN_ANSWER = """Here is the extraction:
```json
{
  'summary': 'The user went hiking with Anna and asked about the weather.',
  'facts': [{'key': 'hiking trip', 'value': 'The user went hiking at Mount Tam with Anna',
             'memory_type': 'UserMemory', 'entities': ['Anna', 'Mount Tam'],
             'time_expression': 'last Friday', 'message_indexes': [0],},],
  'preferences': [
    {'preference': 'The user prefers window seats', 'preference_type': 'explicit', 'reasoning': 'stated directly'},
    {'preference': 'The user likely enjoys outdoor activities', 'preference_type': 'implicit',
     'reasoning': 'goes hiking often', 'topic': 'hobbies'},
  ],
  'tool_trajectories': [{'tool': 'get_weather', 'success': True, 'experience': 'city names work as input'},],
  'skills': [{'name': 'Pack for a day hike', 'description': 'How to pack for a day hike',
              'procedure': '1. water 2. layers 3. map', 'experience': 'bring more water than you think',
              'examples': ['Mount Tam loop']}],
  'relations': [{'source': 'Anna', 'relation': 'friend of', 'target': 'user'}],  // trailing comma next
}
```"""


def test_fine_extraction_english_loose_json_every_kind_fake_llm(fine_engine: MemoryEngine, cube: str) -> None:
    llm = fake_llm(EN_ANSWER)
    result = run_fine(fine_engine, llm, user_id="en1", cube_ids=[cube], third_person=True, messages=[
        {"role": "user", "content": "Last Friday I went hiking at Mount Tam with Anna. I always take a window seat.",
         "chat_time": "2025-03-05T09:00:00Z"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "w1", "function": {"name": "get_weather", "arguments": '{"city": "Mill Valley"}'}}]},
        {"role": "tool", "tool_call_id": "w1", "content": "sunny, 18C"},
        {"role": "assistant", "content": "It will be sunny."},
    ], tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}])
    assert result.llm_calls == 1 and not result.conflicts
    system = llm.prompts[0][0].content
    assert "memory extractor" in system and "third person" in system
    kinds = {m.memory_type for m in result.memories}
    assert kinds == {MemoryType.USER, MemoryType.PREFERENCE, MemoryType.TOOL_TRAJECTORY, MemoryType.SKILL,
                     MemoryType.TOOL_SCHEMA}
    fact = next(m for m in result.memories if m.memory_type is MemoryType.USER)
    assert fact.happened_at is not None and fact.happened_at.date().isoformat() == "2025-02-28"
    assert fact.language == "en"
    prefs = sorted(m.extra["preference_type"] for m in result.memories if m.memory_type is MemoryType.PREFERENCE)
    assert prefs == ["explicit_preference", "implicit_preference"]
    trajectory = next(m for m in result.memories if m.memory_type is MemoryType.TOOL_TRAJECTORY)
    assert trajectory.extra["correctness"] == "success" and trajectory.extra["tool_used_status"][0]["success"]
    skill = next(m for m in result.memories if m.memory_type is MemoryType.SKILL)
    assert skill.extra["experience"] == ["bring more water than you think"]
    assert [(r.source, r.relation, r.target) for r in result.relations] == [("Anna", "friend of", "user")]
    assert fine_engine.store.count(cube) == len(result.memories) == 6


def test_tool_trajectory_derived_from_tool_calls_when_model_reports_none_fake_llm(
        fine_engine: MemoryEngine, cube: str) -> None:
    answer = json.dumps({"facts": [{"key": "city", "value": "The user asked about Paris weather"}]})
    result = run_fine(fine_engine, fake_llm(answer), user_id="en2", cube_ids=[cube], messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "x", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "tool_call_id": "x", "content": "Exception: upstream unavailable"},
    ])
    trajectory = next(m for m in result.memories if m.memory_type is MemoryType.TOOL_TRAJECTORY)
    assert trajectory.key == "get_weather" and trajectory.extra["correctness"] == "failed"
    assert "upstream unavailable" in trajectory.memory


# ---------------------------------------------------------------------------------------------
# reconciliation


def fact_answer(key: str, value: str, relations: list[list[str]] | None = None) -> str:
    return json.dumps({"facts": [{"key": key, "value": value, "memory_type": "UserMemory"}],
                       "relations": [{"source": s, "relation": r, "target": t} for s, r, t in relations or []]},
                      ensure_ascii=False)


def test_duplicate_reinforces_existing_memory_fake_llm(fine_engine: MemoryEngine, cube: str) -> None:
    run_fine(fine_engine, fake_llm(fact_answer("pet", "The user has a cat named Tuanzi")),
             user_id="d1", cube_ids=[cube], messages=[{"role": "user", "content": "I have a cat named Tuanzi"}])
    [original] = fine_engine.store.list(cube)
    llm = fake_llm(fact_answer("pet", "The user owns a cat called Tuanzi"),
                   '{"facts": [{"index": 0, "decision": "duplicate", "targets": ["M1"], "reason": "same cat"}]}')
    result = run_fine(fine_engine, llm, user_id="d1", cube_ids=[cube],
                      messages=[{"role": "user", "content": "My cat is called Tuanzi, by the way"}])
    assert result.llm_calls == 2 and result.memories == [] and result.reinforced_ids == [original.id]
    assert "[M1]" in llm.prompts[1][1].content and "Tuanzi" in llm.prompts[1][1].content
    assert fine_engine.store.count(cube, statuses=None) == 1  # no new record
    stored = fine_engine.store.get(original.id)
    # the one impression model: a mention refreshes the impression (still at most 1) and steadies the
    # memory (mention_count feeds the forgetting curve's stability)
    assert stored is not None and stored.mention_count == 2 and stored.impression <= 1.0
    assert stored.last_reinforced_at is not None and stored.last_reinforced_at >= original.created_at
    assert stored.last_reinforced_at is not None

    # the very same text again is a duplicate without a reconciliation call
    again = run_fine(fine_engine, fake_llm(fact_answer("pet", "The user has a cat named Tuanzi")),
                     user_id="d1", cube_ids=[cube], messages=[{"role": "user", "content": "Tuanzi is my cat."}])
    assert again.llm_calls == 1 and again.reinforced_ids == [original.id]
    assert fine_engine.store.get(original.id).mention_count == 3  # type: ignore[union-attr]


def test_contradiction_invalidates_old_memory_and_relation_fake_llm(fine_engine: MemoryEngine, cube: str) -> None:
    first = run_fine(fine_engine, fake_llm(fact_answer("居住地", "用户住在北京", [["用户", "居住在", "北京"]])),
                     user_id="c1", cube_ids=[cube], messages=[{"role": "user", "content": "我住在北京"}])
    old = first.memories[0]
    reconcile_answer = json.dumps({
        "facts": [{"index": 0, "decision": "contradiction", "targets": ["M1"], "reason": "用户已从北京搬到上海"}],
        "relations": [{"index": 0, "decision": "conflict", "targets": ["S1"], "reason": "居住地只能有一个"}],
    }, ensure_ascii=False)
    llm = fake_llm(fact_answer("居住地", "用户上个月从北京搬到了上海", [["用户", "居住在", "上海"]]), reconcile_answer)
    result = run_fine(fine_engine, llm, user_id="c1", cube_ids=[cube],
                      messages=[{"role": "user", "content": "我上个月从北京搬到上海了"}])
    assert result.llm_calls == 2
    assert "新记忆" in llm.prompts[1][1].content and "[S1]" in llm.prompts[1][1].content
    new = result.memories[0]
    stored_old = fine_engine.store.get(old.id)
    assert stored_old is not None and stored_old.status is MemoryStatus.INVALID
    assert stored_old.superseded_by == new.id
    entry = stored_old.change_log[-1]
    assert (entry.status_before, entry.status_after, entry.related_memory_id) == ("activated", "invalid", new.id)
    assert "上海" in entry.reason
    stored_new = fine_engine.store.get(new.id)
    assert stored_new is not None and stored_new.status is MemoryStatus.ACTIVATED
    assert stored_new.extra["supersedes"] == [old.id]
    [conflict] = result.conflicts
    assert conflict.old_memory_id == old.id and conflict.new_memory_id == new.id
    assert conflict.status_before == "activated" and conflict.status_after == "invalid"
    [correction] = result.relation_corrections
    assert (correction.source, correction.target, correction.original_relation) == ("用户", "北京", "居住在")
    relations = {(r.target, r.status) for r in fine_engine.store.all_relations(cube)}
    assert relations == {("北京", MemoryStatus.INVALID), ("上海", MemoryStatus.ACTIVATED)}
    assert fine_engine.store.count(cube, statuses=None) == 2  # nothing deleted
    found = fine_engine.recall(RecallRequest(user_id="c1", cube_ids=[cube], query="用户住在哪里", relativity=0))
    assert [i.record.id for i in found.facts] == [new.id]


def test_new_fact_next_to_similar_one_is_kept_fake_llm(fine_engine: MemoryEngine, cube: str) -> None:
    run_fine(fine_engine, fake_llm(fact_answer("sport", "The user plays tennis on Mondays")),
             user_id="n1", cube_ids=[cube], messages=[{"role": "user", "content": "I play tennis on Mondays"}])
    llm = fake_llm(fact_answer("sport", "The user plays tennis on Fridays too"),
                   '{"facts": [{"index": 0, "decision": "new", "reason": "both days"}]}')
    result = run_fine(fine_engine, llm, user_id="n1", cube_ids=[cube],
                      messages=[{"role": "user", "content": "I also play tennis on Fridays"}])
    assert result.llm_calls == 2 and len(result.memories) == 1 and not result.conflicts
    assert fine_engine.store.count(cube) == 2


# ---------------------------------------------------------------------------------------------
# errors and budget


def test_malformed_output_raises_readable_error_and_writes_nothing_fake_llm(
        fine_engine: MemoryEngine, cube: str) -> None:
    with pytest.raises(ExtractionError, match="did not answer in JSON") as info:
        run_fine(fine_engine, fake_llm("Sorry, as an AI I cannot do that."), user_id="e1", cube_ids=[cube],
                 messages=[{"role": "user", "content": "I live in Lyon"}])
    assert "Sorry, as an AI" in info.value.message and info.value.status_code == 502
    assert fine_engine.store.count(cube, statuses=None) == 0
    assert fine_engine.store.list_messages(cube) == []


def test_empty_extraction_is_reported_not_silent_fake_llm(fine_engine: MemoryEngine, cube: str) -> None:
    with pytest.raises(ExtractionError, match="empty extraction"):
        run_fine(fine_engine, fake_llm('{"facts": [], "preferences": []}'), user_id="e2", cube_ids=[cube],
                 messages=[{"role": "user", "content": "hello"}])
    assert fine_engine.store.count(cube, statuses=None) == 0


def test_sixteen_messages_cost_at_most_two_llm_calls_fake_llm(fine_engine: MemoryEngine, cube: str) -> None:
    run_fine(fine_engine, fake_llm(fact_answer("job", "The user works as a nurse in Leeds")),
             user_id="b1", cube_ids=[cube], messages=[{"role": "user", "content": "I am a nurse in Leeds"}])
    answer = json.dumps({"facts": [
        {"key": "job", "value": "The user works as a senior nurse in Leeds"},
        {"key": "hobby", "value": "The user paints watercolours"},
        {"key": "pet", "value": "The user has a dog called Biscuit"},
    ]})
    llm = fake_llm(answer, '{"facts": [{"index": 0, "decision": "update", "targets": ["M1"], "reason": "promoted"}]}')
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"message number {i} about my life",
                 "chat_time": (t0 + timedelta(minutes=i)).isoformat()} for i in range(16)]
    result = run_fine(fine_engine, llm, user_id="b1", cube_ids=[cube], messages=messages)
    assert result.llm_calls == len(llm.prompts) == 2
    assert len(result.memories) == 3 and len(result.conflicts) == 1
    assert "[15]" in llm.prompts[0][1].content  # all 16 messages in the one extraction call


class ToolCallingFakeLLM(GenericFakeChatModel):
    """A fake LLM that claims tool support, so ``with_structured_output`` is used (no loose parsing)."""

    def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> Any:
        return self


def test_structured_output_path_and_raw_fallback_use_one_call_each_fake_llm() -> None:
    from langchain_core.messages import HumanMessage

    from memos_integrations.pipeline.extract import call_for_schema

    args = {"facts": [{"key": "city", "value": "The user lives in Oslo"}]}
    llm = ToolCallingFakeLLM(messages=iter([
        AIMessage(content="", tool_calls=[{"name": "Extraction", "args": args, "id": "call1"}]),
        AIMessage(content="```json\n{'facts': [{'value': 'The user likes skiing',}]}\n```"),  # no tool call
    ]))
    parsed, calls, warnings = call_for_schema(llm, [HumanMessage(content="hi")], Extraction, what="extraction")
    assert calls == 1 and not warnings and parsed.facts[0].value == "The user lives in Oslo"
    parsed, calls, _ = call_for_schema(llm, [HumanMessage(content="hi")], Extraction, what="extraction")
    assert calls == 1 and parsed.facts[0].value == "The user likes skiing"  # raw answer parsed, no second call
