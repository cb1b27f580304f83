"""A LangGraph chatbot that remembers across threads (memory graph + embedded Weaviate).

    python examples/langgraph_chatbot.py

Runs offline with a fake chat model; set ``OPENAI_API_KEY`` or ``CHAT_MODEL_LIST`` for a real one.
Data goes to ``MEMOS_DATA_DIR`` (embedded Weaviate) or to ``WEAVIATE_URL``.
"""

from __future__ import annotations

import uuid

from _example_models import chat_model
from langgraph.checkpoint.memory import InMemorySaver

from memos_integrations.engine import MemoryEngine
from memos_integrations.langgraph import build_memory_graph


def main() -> None:
    engine = MemoryEngine.from_settings(prefix="Examples")
    try:
        graph = build_memory_graph(engine, chat_model(), checkpointer=InMemorySaver(),
                                   system_prompt="You are a friendly assistant.", relativity=0.3)
        user = f"demo_{uuid.uuid4().hex[:6]}"

        first = {"configurable": {"user_id": user, "thread_id": "monday"}}
        state = graph.invoke({"messages": [("user", "Hi! My cat Tuanzi is a British Shorthair and loves salmon.")]},
                             first)
        print("thread 1 >", state["messages"][-1].content)
        engine.wait_for_tasks(task_ids=[state["memorize_task_id"]], timeout=60)  # background memorize

        second = {"configurable": {"user_id": user, "thread_id": "friday"}}
        print("thread 2 > ", end="", flush=True)
        for chunk, meta in graph.stream({"messages": [("user", "What does my cat like to eat?")]}, second,
                                        stream_mode="messages"):
            if meta.get("langgraph_node") == "generate":
                print(chunk.content, end="", flush=True)
        print()
        final = graph.get_state(second).values
        print(f"(recalled {len(final['recalled_memory_ids'])} memories; thread 2 holds "
              f"{len(final['messages'])} messages, memory prompt not persisted)")
        engine.wait_for_tasks(user_id=user, timeout=60)
    finally:
        engine.flush()  # recall's background counter updates, before the client closes
        engine.close()


if __name__ == "__main__":
    main()
