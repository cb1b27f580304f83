"""memoryPrompt: a ready-to-inject block (Chinese or English by the query's language), and the
injection helper that follows MemnetAI's best practice (system prompt + a short reminder on the
latest user message, for this turn only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from memos_integrations.domain.requests import RecallItem, RecallResult

REMINDER = {
    "zh": "（请严格参照系统提示词）",
    "en": "(Please strictly follow the system prompt.)",
}

_HEAD = {
    "zh": {
        "intro": "以下是与当前对话相关的长期记忆。请在回答时自然地利用它们，不要提及“记忆”本身；"
                 "若记忆与用户当前所说矛盾，以用户当前所说为准。",
        "now": "当前时间",
        "facts": "## 事实记忆",
        "prefs": "## 偏好记忆",
        "tools": "## 工具经验",
        "skills": "## 技能",
        "knowledge": "## 常识",
        "time": "## 相关时间范围",
        "empty": "（没有找到相关记忆）",
    },
    "en": {
        "intro": "These are long-term memories relevant to the conversation. Use them naturally in your "
                 "answer without mentioning 'memory'; if a memory contradicts what the user says now, "
                 "trust what the user says now.",
        "now": "Current time",
        "facts": "## Facts",
        "prefs": "## Preferences",
        "tools": "## Tool experience",
        "skills": "## Skills",
        "knowledge": "## Common sense",
        "time": "## Relevant time window",
        "empty": "(no relevant memories found)",
    },
}


def _when(item: RecallItem) -> str:
    when = item.record.happened_at or item.record.created_at
    return when.strftime("%Y-%m-%d %H:%M") if when else ""


def format_fact(item: RecallItem) -> str:
    """``[happened time] text`` (the time the fact happened or was said, else when it was stored)."""
    when = _when(item)
    return f"[{when}] {item.record.text}" if when else item.record.text


def build_preference_note(result: RecallResult) -> str:
    lang = "zh" if result.language == "zh" else "en"
    if not result.preferences:
        return ""
    lines = []
    for i, item in enumerate(result.preferences, 1):
        kind = item.record.extra.get("preference_type", "")
        label = {"explicit_preference": "显式" if lang == "zh" else "explicit",
                 "implicit_preference": "隐式" if lang == "zh" else "implicit"}.get(kind, "")
        lines.append(f"{i}. {item.record.memory}" + (f" ({label})" if label else ""))
    return "\n".join(lines)


def build_memory_prompt(result: RecallResult, *, now: datetime | None = None) -> str:
    """The memoryPrompt block for a recall result."""
    lang = "zh" if result.language == "zh" else "en"
    head = _HEAD[lang]
    now = now or result.reference_time or datetime.now(UTC)
    zone = now.strftime("%Z") or "UTC"
    parts = [head["intro"], f"{head['now']}: {now.strftime('%Y-%m-%d %H:%M')} {zone}"]
    if result.time_window:
        start, end = result.time_window
        cue = f"「{result.time_cue}」: " if lang == "zh" and result.time_cue else (
            f'"{result.time_cue}": ' if result.time_cue else "")
        parts.append(f"{head['time']}\n{cue}{start.strftime('%Y-%m-%d %H:%M')} – {end.strftime('%Y-%m-%d %H:%M')}")
    if result.facts:
        parts.append(head["facts"] + "\n" + "\n".join(f"{i}. {format_fact(it)}" for i, it in enumerate(result.facts, 1)))
    result.preference_note = build_preference_note(result)
    if result.preference_note:
        parts.append(head["prefs"] + "\n" + result.preference_note)
    if result.tools:
        lines = []
        for i, it in enumerate(result.tools, 1):
            exp = it.record.extra.get("experience")
            lines.append(f"{i}. {it.record.text}" + (f" — {exp}" if exp else ""))
        parts.append(head["tools"] + "\n" + "\n".join(lines))
    if result.skills:
        parts.append(head["skills"] + "\n" + "\n".join(f"{i}. {it.record.text}" for i, it in enumerate(result.skills, 1)))
    if result.knowledge:
        parts.append(head["knowledge"] + "\n" + "\n".join(f"{i}. {it.record.memory}" for i, it in enumerate(result.knowledge, 1)))
    if not (result.facts or result.preferences or result.tools or result.skills or result.knowledge):
        parts.append(head["empty"])
    return "\n\n".join(parts)


def inject(messages: list[dict], memory_prompt: str, language: str = "en") -> list[dict]:
    """MemnetAI's best practice on OpenAI-style dicts: the memoryPrompt joins the system prompt,
    and a short reminder is appended to the latest user message. Returns a new list (the caller's
    messages are not changed, so the reminder lives for this turn only)."""
    out = [dict(m) for m in messages]
    if out and out[0].get("role") == "system":
        out[0]["content"] = f"{out[0].get('content') or ''}\n\n{memory_prompt}".strip()
    else:
        out.insert(0, {"role": "system", "content": memory_prompt})
    reminder = REMINDER["zh" if language == "zh" else "en"]
    for message in reversed(out):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            message["content"] = f"{message['content']}{reminder}"
            break
    return out
