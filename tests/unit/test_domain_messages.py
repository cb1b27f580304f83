"""The one messages -> text rule and the one memoryPrompt injection (pure logic, no server)."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from llama_index.core.base.llms.types import ChatMessage as LlamaChatMessage
from llama_index.core.base.llms.types import ImageBlock, TextBlock

from memos_integrations.domain.messages import (
    content_text,
    inject_memory,
    last_user_text,
    messages_text,
)
from memos_integrations.domain.requests import ChatMessage
from memos_integrations.langchain.messages import inject_messages as lc_inject
from memos_integrations.llama_index.messages import inject_messages as li_inject

PROMPT = "# Memories\n1. Lives in Berlin"


def test_content_text_one_rule() -> None:
    parts = [{"type": "text", "text": "Hi"}, {"type": "thinking", "thinking": "hmm"},
             {"type": "image_url", "image_url": {"url": "x"}}, {"type": "file", "file": {"filename": "a.pdf"}},
             {"type": "tool_use", "id": "t1"}, "tail"]
    assert content_text(parts) == "Hi\n[image_url]\n[file: a.pdf]\ntail"
    assert content_text(parts, attachments=False, separator="") == "Hitail"
    assert content_text(None) == "" and content_text("plain") == "plain"
    assert content_text([TextBlock(text="a"), ImageBlock(url="http://x/y.png")]) == "a\n[image]"
    assert ChatMessage(role="user", content=parts).text == content_text(parts)


def test_transcript_and_latest_user() -> None:
    messages = [ChatMessage(role="user", content="one", character="Ann"), ChatMessage(role="assistant", content="two"),
                ChatMessage(role="user", content=[{"type": "text", "text": "three"}])]
    assert messages_text(messages) == "Ann: one\nassistant: two\nuser: three"
    assert messages_text(messages, last=1) == "user: three"
    assert last_user_text(messages) == "three" and last_user_text([]) == ""


def test_inject_joins_the_leading_system_message_and_reminds() -> None:
    given = [ChatMessage(role="system", content="Be kind."), ChatMessage(role="user", content="Where do I live?")]
    out = inject_memory(given, PROMPT, reminder=" (R)")
    assert out[0].content == f"Be kind.\n\n{PROMPT}" and out[1].content == "Where do I live? (R)"
    assert given[0].content == "Be kind."  # the input is not changed
    # no system message: a new one first; nothing recalled: no reminder, nothing added
    assert [m.role for m in inject_memory(given[1:], PROMPT)] == ["system", "user"]
    assert inject_memory(given, "", reminder=" (R)") == given


def test_inject_system_prompt_placeholder_and_user_placement() -> None:
    user = [ChatMessage(role="user", content="Q")]
    out = inject_memory(user, PROMPT, system_prompt="Known: {memories}", reminder=" (R)")
    assert out[0].content == f"Known: {PROMPT}" and out[1].content == "Q"  # caller placed it: no reminder
    out = inject_memory(user, PROMPT, placement="user")
    assert [m.role for m in out] == ["user"] and out[0].content == f"{PROMPT}\n\nQ"
    parts = [ChatMessage(role="user", content=[{"type": "text", "text": "Q"}])]
    assert inject_memory(parts, PROMPT, reminder="!")[1].content == [{"type": "text", "text": "Q"},
                                                                     {"type": "text", "text": "!"}]


def test_framework_adapters_use_the_same_logic_and_keep_untouched_messages() -> None:
    lc = [SystemMessage("Be kind."), HumanMessage("hi"), AIMessage("hello", id="a1"), HumanMessage("Where?")]
    out = lc_inject(lc, PROMPT, reminder=" (R)")
    assert out[1] is lc[1] and out[2] is lc[2]
    assert isinstance(out[0], SystemMessage) and out[0].content == f"Be kind.\n\n{PROMPT}"
    assert isinstance(out[3], HumanMessage) and out[3].content == "Where? (R)"
    li = [LlamaChatMessage(role="user", content="Where?")]
    for placement in ("system", "user"):
        converted = [ChatMessage(role="user", content="Where?")]
        expected = [m.text for m in inject_memory(converted, PROMPT, placement=placement)]
        assert [m.content for m in li_inject(li, PROMPT, placement=placement)] == expected
    with_image = [LlamaChatMessage(role="user", blocks=[TextBlock(text="Look"), ImageBlock(url="http://x/y.png")])]
    injected = li_inject(with_image, PROMPT, placement="user")[0]
    assert isinstance(injected.blocks[0], TextBlock) and injected.blocks[0].text == PROMPT
    assert isinstance(injected.blocks[-1], ImageBlock)
