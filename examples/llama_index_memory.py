"""LlamaIndex + long-term memory, offline: MemosMemory in SimpleChatEngine and FunctionAgent (every
turn memorized), the MemoryRetriever in CondensePlusContextChatEngine, and MemosMemoryBlock in
LlamaIndex's own ``Memory``.

Runs with an embedded Weaviate (MEMOS_DATA_DIR), the local default embedding model and LlamaIndex's
fake LLM (MockFunctionCallingLLM), so it needs no network. Pass any LlamaIndex LLM instead; to use a
LlamaIndex embedding model for the memories too, build the engine with
``engine_from_llama_index(embed_model=..., prefix="MyModel")``.

    python examples/llama_index_memory.py
"""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import Sequence
from typing import Any

from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.chat_engine import CondensePlusContextChatEngine, SimpleChatEngine
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.memory import Memory

from memos_integrations.engine import MemoryEngine
from memos_integrations.llama_index import MemoryRetriever, MemosMemory, MemosMemoryBlock

# llama-index/pydantic internals warn about deprecated attributes while inspecting objects
warnings.filterwarnings("ignore", category=DeprecationWarning, module="inspect")


def answer_from_memory(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
    """Fake LLM: answers with the first remembered fact found in the prompt."""
    text = "\n".join(m.content or "" for m in messages)
    facts = [line[3:] for line in text.splitlines() if line.startswith("1. ")]
    return ChatMessage(role="assistant", content=f"From memory: {facts[0]}" if facts else "Nice to meet you!")


def fake_llm() -> MockFunctionCallingLLM:
    return MockFunctionCallingLLM(response_generator=answer_from_memory)


def main() -> None:
    engine = MemoryEngine.from_settings()
    alice = f"alice-{uuid.uuid4().hex[:6]}"
    try:
        # 1. A chat engine: every turn is memorized; a later conversation recalls it.
        memory = MemosMemory.from_defaults(engine=engine, user_id=alice, session_id="chat-1")
        SimpleChatEngine.from_defaults(llm=fake_llm(), memory=memory).chat("I am learning to play the cello.")
        later = MemosMemory.from_defaults(engine=engine, user_id=alice, session_id="chat-2")
        reply = SimpleChatEngine.from_defaults(llm=fake_llm(), memory=later).chat("Which instrument am I learning?")
        print("chat engine:", reply.response)

        # 2. The retriever: NodeWithScore, usable as a chat engine's context retriever.
        retriever = MemoryRetriever(engine, user_id=alice, top_k=3)
        nodes = retriever.retrieve("cello lessons")
        print("retriever:", nodes[0].node.get_content(), "| kind:", nodes[0].node.metadata["kind"])
        CondensePlusContextChatEngine.from_defaults(retriever=retriever, llm=fake_llm()).chat("What do I play?")

        # 3. FunctionAgent (async): memory passed per run.
        async def agent_run(question: str, session: str) -> str:
            agent = FunctionAgent(tools=[], llm=fake_llm(), system_prompt="You are an assistant.")
            result = await agent.run(user_msg=question,
                                     memory=MemosMemory.from_defaults(engine=engine, user_id=alice, session_id=session))
            return str(result)

        asyncio.run(agent_run("My train leaves from platform 9.", "agent-1"))
        print("agent:", asyncio.run(agent_run("Which platform does my train leave from?", "agent-2")))

        # 4. A block for LlamaIndex's own Memory (recall for the input; memorizes what overflows).
        block_memory = Memory.from_defaults(session_id="blocks", memory_blocks=[MemosMemoryBlock(engine=engine,
                                                                                                  user_id=alice)])
        messages = block_memory.get(input="What instrument am I learning?")
        print("memory block:", "cello" in (messages[0].content or "") if messages else False)
        print("LLAMA_INDEX EXAMPLE OK")
    finally:
        engine.close()


if __name__ == "__main__":
    main()
