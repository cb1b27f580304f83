"""``create_agent`` with ``WeaviateStore`` as its long-term store.

    python examples/langgraph_store_agent.py

The agent's tools save and search user notes in the store (semantic + keyword hybrid search on
Weaviate, namespaces per user). Offline with a fake chat model by default.
"""

from __future__ import annotations

import uuid

from _example_models import chat_model
from langchain.agents import create_agent
from langchain.tools import ToolRuntime
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import tool

from memos_integrations.config import get_settings
from memos_integrations.langgraph import WeaviateStore
from memos_integrations.llm.embeddings import DEFAULT_DIM, default_embeddings


@tool
def save_note(text: str, runtime: ToolRuntime) -> str:
    """Save a note about the user for later."""
    user_id = runtime.config["configurable"]["user_id"]
    assert runtime.store is not None
    runtime.store.put(("notes", user_id), uuid.uuid4().hex, {"text": text})
    return "saved"


@tool
def search_notes(query: str, runtime: ToolRuntime) -> str:
    """Search the notes saved about the user."""
    user_id = runtime.config["configurable"]["user_id"]
    assert runtime.store is not None
    hits = runtime.store.search(("notes", user_id), query=query, limit=3)
    return "\n".join(f"- {h.value['text']} (score {h.score:.2f})" for h in hits) or "no notes"


def scripted(messages: list[BaseMessage]) -> AIMessage | str:
    """Fake LLM: save or search with the tools, then report the tool result."""
    last = messages[-1]
    if isinstance(last, ToolMessage):
        return f"Done. {last.content}"
    text = str(last.content)
    call_id = f"call_{uuid.uuid4().hex[:6]}"
    if text.lower().startswith("remember"):
        return AIMessage("", tool_calls=[{"name": "save_note", "args": {"text": text.split(":", 1)[-1].strip()}, "id": call_id}])
    return AIMessage("", tool_calls=[{"name": "search_notes", "args": {"query": text}, "id": call_id}])


def main() -> None:
    store = WeaviateStore.from_settings(get_settings(), prefix="Examples", scope="store_agent",
                                        index={"dims": DEFAULT_DIM, "embed": default_embeddings(), "fields": ["text"]})
    try:
        agent = create_agent(chat_model(scripted), tools=[save_note, search_notes], store=store,
                             system_prompt="Save facts the user asks you to remember; search notes to answer.")
        config = {"configurable": {"user_id": f"demo_{uuid.uuid4().hex[:6]}"}}
        for text in ["Remember: I am allergic to peanuts.", "Remember: my favourite city is Kyoto.",
                     "Which food should I avoid?"]:
            result = agent.invoke({"messages": [("user", text)]}, config)
            print(f"user> {text}\n  ai> {result['messages'][-1].content}")
        print("namespaces:", store.list_namespaces(prefix=("notes",)))
    finally:
        store.close()


if __name__ == "__main__":
    main()
