"""Chat model selection shared by the LangGraph examples.

Offline by default: a fake LLM (``RecordingChatModel``) that answers from the memoryPrompt it
was given. With ``CHAT_MODEL_LIST`` (seed 001's format) or ``OPENAI_API_KEY`` (+ optional
``OPENAI_MODEL`` / ``OPENAI_BASE_URL``) set, a real model is used instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage

from memos_integrations.config import get_settings
from memos_integrations.langgraph.fakes import RecordingChatModel


def real_chat_model() -> BaseChatModel | None:
    settings = get_settings()
    if settings.chat_model_list:
        from memos_integrations.llm.registry import ChatModelRegistry

        return ChatModelRegistry(settings.chat_model_list).default()
    if os.environ.get("OPENAI_API_KEY"):
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))
    return None


def remembered_facts(messages: list[BaseMessage]) -> list[str]:
    """The numbered fact lines of the memoryPrompt in the system message (what the fake 'knows')."""
    system = next((m for m in messages if isinstance(m, SystemMessage)), None)
    if system is None:
        return []
    lines = str(system.content).splitlines()
    return [line.split(". ", 1)[1] for line in lines if line[:1].isdigit() and ". " in line]


def fake_answer(messages: list[BaseMessage]) -> str:
    facts = remembered_facts(messages)
    if not facts:
        return "Nice to meet you! I will remember that."
    return "From what I remember: " + " | ".join(facts[:3])


def chat_model(respond: Callable[[list[BaseMessage]], AIMessage | str] = fake_answer) -> BaseChatModel:
    model = real_chat_model()
    if model is not None:
        print(f"[using real chat model {type(model).__name__}]")
        return model
    print("[offline: using a fake chat model; set OPENAI_API_KEY or CHAT_MODEL_LIST for a real one]")
    return RecordingChatModel(respond=respond)
