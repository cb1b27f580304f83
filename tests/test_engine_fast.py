"""Fast memorize and recall through the engine, real Weaviate, hashing embedder (no LLM)."""

from __future__ import annotations

from memos_integrations.domain.models import TaskStatus
from memos_integrations.domain.requests import MemorizeRequest, RecallRequest
from memos_integrations.engine import MemoryEngine


def test_fast_memorize_is_searchable_at_once(hash_engine: MemoryEngine, cube: str) -> None:
    result = hash_engine.memorize(MemorizeRequest(
        user_id="u1", cube_ids=[cube], session_id="s1", info={"source": "test"},
        messages=[
            {"role": "user", "content": "My cat Tuanzi is a British Shorthair.", "chat_time": "2025-03-02T20:15:00+08:00"},
            {"role": "assistant", "content": "Lovely! How old is Tuanzi?"},
            {"role": "user", "content": "我去年在广州住过全季酒店", "character": "晓雯"},
        ],
    ))
    assert result.mode == "fast" and len(result.memories) == 3
    assert result.memories[0].memory.startswith("User: My cat")
    assert result.memories[2].character == "晓雯"
    found = hash_engine.recall(RecallRequest(user_id="u1", cube_ids=[cube], query="British Shorthair cat", relativity=0))
    assert found.facts and "Tuanzi" in found.facts[0].record.memory
    assert found.facts[0].record.info == {"source": "test"}
    zh = hash_engine.recall(RecallRequest(user_id="u1", cube_ids=[cube], query="广州 酒店", relativity=0))
    assert "全季" in zh.facts[0].record.memory
    assert zh.language == "zh" and "全季" in zh.memory_prompt


def test_async_memorize_task_completes_and_is_idempotent(hash_engine: MemoryEngine, cube: str) -> None:
    request = MemorizeRequest(user_id="u2", cube_ids=[cube], messages=[{"role": "user", "content": "I play the cello"}])
    first = hash_engine.memorize(request, sync=False)
    again = hash_engine.memorize(request, sync=False)
    assert first.task_id and first.task_id == again.task_id
    assert hash_engine.wait_for_tasks(task_ids=[first.task_id], timeout=30)
    assert hash_engine.get_task(first.task_id).status is TaskStatus.COMPLETED
    assert hash_engine.store.count(cube) == 1


def test_message_without_chat_time_inherits_the_previous_one(hash_engine: MemoryEngine, cube: str) -> None:
    result = hash_engine.memorize(MemorizeRequest(user_id="u3", cube_ids=[cube], messages=[
        {"role": "user", "content": "We adopted a puppy", "chat_time": "2024-05-01T10:00:00+00:00"},
        {"role": "assistant", "content": "Congratulations on the puppy!"},
    ]))
    assert [m.happened_at.isoformat() for m in result.memories] == ["2024-05-01T10:00:00+00:00"] * 2


def test_speaker_name_follows_the_language(hash_engine: MemoryEngine, cube: str) -> None:
    """An English conversation's memories read ``User: ...``; a Chinese one keeps MemnetAI's 用户."""
    result = hash_engine.memorize(MemorizeRequest(user_id=cube, messages=[
        {"role": "user", "content": "I moved to Seattle"},
        {"role": "user", "content": "我搬到了西雅图"},
        {"role": "user", "content": "I like rain", "character": "用户"},
    ]))
    assert [m.memory for m in result.memories] == ["User: I moved to Seattle", "用户: 我搬到了西雅图", "User: I like rain"]
