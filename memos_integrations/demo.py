"""``memos-integrations demo``: the lifecycle on the embedded default, end to end.

Memorizes a short conversation into a fresh cube (fast mode; fine mode when ``CHAT_MODEL_LIST``
configures a chat model), recalls for a question asked later in another session, and prints the
memoryPrompt that would be injected into the next model call.
"""

from __future__ import annotations

import time
import uuid

from memos_integrations.domain.requests import ChatMessage, MemorizeRequest, RecallRequest
from memos_integrations.engine import MemoryEngine
from memos_integrations.integrations import ranked_items

CONVERSATIONS = {
    "en": (
        [
            {"role": "user", "content": "Hi! I'm Caroline. I just moved from Boston to Seattle for a new job.",
             "chat_time": "2025-05-08T13:56:00"},
            {"role": "assistant", "content": "Welcome to Seattle! What's the new job?"},
            {"role": "user", "content": "I'm a counselor at a youth center. Also, I'm allergic to peanuts, "
                                        "so please never suggest peanut dishes.", "chat_time": "2025-05-08T13:58:00"},
            {"role": "assistant", "content": "Noted: no peanuts. Congratulations on the new role!"},
        ],
        "What food should I avoid, and where do I live now?",
    ),
    "zh": (
        [
            {"role": "user", "content": "我叫晓雯，在杭州一家电商公司做运营。", "chat_time": "2025-03-02T20:15:00+08:00"},
            {"role": "assistant", "content": "你好晓雯！运营工作忙吗？"},
            {"role": "user", "content": "挺忙的。我乳糖不耐受，一喝牛奶就肚子疼；另外我特别讨厌香菜。",
             "chat_time": "2025-03-02T20:17:00+08:00"},
            {"role": "assistant", "content": "记住了：不推荐牛奶和香菜。"},
        ],
        "帮我推荐一份早餐，要注意我的饮食禁忌",
    ),
}


def run_demo(language: str = "en") -> None:
    messages, question = CONVERSATIONS[language]
    started = time.monotonic()
    engine = MemoryEngine.from_settings()
    print(f"Engine ready in {time.monotonic() - started:.1f}s (Weaviate + embedding model).")
    user = f"demo_{uuid.uuid4().hex[:8]}"
    try:
        t0 = time.monotonic()
        stored = engine.memorize(MemorizeRequest(user_id=user, session_id="session-1",
                                                 messages=[ChatMessage.model_validate(m) for m in messages]))
        print(f"Memorized {len(stored.memories)} memories ({stored.mode} mode) in "
              f"{(time.monotonic() - t0) * 1000:.0f} ms into cube '{user}'.")
        t0 = time.monotonic()
        found = engine.recall(RecallRequest(user_id=user, session_id="session-2", query=question))
        ranked = ranked_items(found)
        print(f"Recalled {len(ranked)} memories in {(time.monotonic() - t0) * 1000:.0f} ms for: {question}")
        print("  rank  score  relevance  kind        memory")
        for rank, (kind, item) in enumerate(ranked, 1):
            print(f"  {rank:>4}  {item.score:5.3f}  {item.relativity:9.2f}  {kind:<10}  {item.record.text}")
        print("\n--- memoryPrompt ---")
        print(found.memory_prompt)
    finally:
        engine.flush()  # recall's background counter updates, before the cleanup
        engine.delete_where([user], user_id=user)
        engine.close()
