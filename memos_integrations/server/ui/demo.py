"""``memos-integrations ui``: the memory inspector on the demo data.

Loads the demo data when the store holds no memories yet, then serves the HTTP server (the same
app as ``serve``) with the inspector on, and prints its URL. Without ``MEMOS_API_KEYS`` it binds
loopback only (like ``serve``) and turns ``MEMOS_UI_ENABLED`` on for this run.

The demo data: two conversations memorized in fast mode (no LLM needed), plus what fine mode
with a chat model would have added - a fact that replaced an older one (with its change log) and
entity relations for the graph - stored through the engine's import.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from memos_integrations.config import Settings, get_settings
from memos_integrations.domain.models import (
    ChangeLogEntry,
    MemoryRecord,
    MemoryStatus,
    MemoryType,
    RelationRecord,
)
from memos_integrations.domain.requests import ChatMessage, MemorizeRequest
from memos_integrations.engine import MemoryEngine

DEMO_USER = "caroline"
DEMO_CONVERSATIONS = [
    ("2025-05-08", [
        {"role": "user", "content": "Hi! I'm Caroline. I just moved from Boston to Seattle for a new job.",
         "chat_time": "2025-05-08T13:56:00Z"},
        {"role": "assistant", "content": "Welcome to Seattle! What's the new job?"},
        {"role": "user", "content": "I'm a counselor at a youth center. Also, I'm allergic to peanuts, so please "
                                    "never suggest peanut dishes.", "chat_time": "2025-05-08T13:58:00Z"},
        {"role": "assistant", "content": "Noted: no peanuts. Congratulations on the new role!"},
    ]),
    ("2025-06-14", [
        {"role": "user", "content": "My sister Maya is visiting next weekend; she loves hiking.",
         "chat_time": "2025-06-14T09:10:00Z"},
        {"role": "assistant", "content": "Mount Si or Rattlesnake Ledge are great day hikes near Seattle."},
        {"role": "user", "content": "I prefer trails under 10 km, and I always bring my dog Pixel.",
         "chat_time": "2025-06-14T09:12:00Z"},
    ]),
]


def load_demo(engine: MemoryEngine, user: str = DEMO_USER) -> int:
    """Store the demo data in ``user``'s cube; returns how many memories it added."""
    added = 0
    for session, messages in DEMO_CONVERSATIONS:
        added += len(engine.memorize(MemorizeRequest(user_id=user, session_id=session, mode="fast",
                                                     messages=[ChatMessage.model_validate(m) for m in messages])).memories)
    now = datetime.now(UTC)
    moved = datetime(2025, 5, 8, 13, 56, tzinfo=UTC)
    new = MemoryRecord(cube_id=user, user_id=user, memory_type=MemoryType.USER, key="home city",
                       memory="Caroline lives in Seattle (moved from Boston in May 2025).", session_id="2025-05-08",
                       entities=["Caroline", "Seattle", "Boston"], happened_at=moved, created_at=now, updated_at=now,
                       tags=["mode:fine", "demo"],
                       sources=[{"type": "chat", "role": "user", "character": "Caroline", "position": 0,
                                 "message_id": "", "chat_time": moved.isoformat()}])
    old = MemoryRecord(cube_id=user, user_id=user, memory_type=MemoryType.USER, key="home city",
                       memory="Caroline lives in Boston.", session_id="2025-01-20", status=MemoryStatus.INVALID,
                       superseded_by=new.id, entities=["Caroline", "Boston"], tags=["mode:fine", "demo"],
                       happened_at=datetime(2025, 1, 20, tzinfo=UTC), created_at=now - timedelta(days=120),
                       updated_at=now,
                       change_log=[ChangeLogEntry(at=now, status_before="activated", status_after="invalid",
                                                  reason="contradicted by a newer memory: moved from Boston to Seattle",
                                                  related_memory_id=new.id)])
    allergy = MemoryRecord(cube_id=user, user_id=user, memory_type=MemoryType.PREFERENCE, key="food",
                           memory="Caroline is allergic to peanuts: never suggest peanut dishes.",
                           session_id="2025-05-08", happened_at=moved, tags=["mode:fine", "demo"])
    added += engine.import_memories([new, old, allergy])
    engine.add_relations([
        RelationRecord(cube_id=user, user_id=user, source="Caroline", relation=relation, target=target,
                       memory_ids=[new.id] if target in ("Seattle", "Boston") else [])
        for relation, target in (("lives in", "Seattle"), ("moved from", "Boston"), ("works at", "youth center"),
                                 ("sister", "Maya"), ("owns dog", "Pixel"), ("allergic to", "peanuts"))
    ] + [RelationRecord(cube_id=user, user_id=user, source="Maya", relation="loves", target="hiking"),
         RelationRecord(cube_id=user, user_id=user, source="Caroline", relation="lives in", target="Boston",
                        status=MemoryStatus.INVALID, memory_ids=[old.id])])
    return added


def run_ui(host: str = "127.0.0.1", port: int = 8001, *, demo: bool = True, settings: Settings | None = None) -> None:
    """Load the demo data into an empty store (unless ``demo`` is False), then serve (blocks)."""
    from memos_integrations.server.run import check_binding, serve

    settings = settings or get_settings()
    check_binding(host, settings)
    if settings.ui_enabled is None and not settings.api_keys:
        settings = settings.model_copy(update={"ui_enabled": True})
    if settings.ui_enabled is False:
        print("memos-integrations: MEMOS_UI_ENABLED=false turns the inspector off; unset it to use `ui`")
        return
    if demo:
        engine = MemoryEngine.from_settings(settings, start_tasks=False)
        try:
            if not engine.list_cubes():
                print(f"memos-integrations: the store is empty; loaded {load_demo(engine)} demo memories "
                      f"(user '{DEMO_USER}')")
        finally:
            engine.flush()
            engine.close()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"memos-integrations: memory inspector at http://{shown}:{port}/ui/"
          + ("  (log in with a key from MEMOS_API_KEYS)" if settings.api_keys else ""), flush=True)
    serve(host=host, port=port, settings=settings)


__all__ = ["DEMO_USER", "load_demo", "run_ui"]
