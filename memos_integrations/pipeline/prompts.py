"""Every text the package shows a model, in Chinese and English, in one place:

* the memoryPrompt (a ready-to-inject block, by the query's language) and the reminder that
  follows MemnetAI's best practice (system prompt + a short reminder on the latest user message;
  the injection itself is :func:`memos_integrations.domain.messages.inject_memory`);
* the fine-mode extraction and reconciliation instructions;
* recall's fine/mixture query rewrite and candidate filter.
"""

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


def format_fact(item: RecallItem, by_id: dict[str, RecallItem] | None = None) -> str:
    """``[happened time] text`` (the time the fact happened or was said, else when it was stored).
    An invalid memory recalled with the newer one that replaced it (``by_id``) states the change:
    ``... — no longer true since 2025-10 (moved from Beijing to Shanghai); now: ...``."""
    when = _when(item)
    line = f"[{when}] {item.record.text}" if when else item.record.text
    newer = (by_id or {}).get(item.record.superseded_by or "")
    if item.record.status.value == "invalid" and newer is not None:
        changed = newer.record.happened_at or newer.record.created_at
        since = changed.strftime("%Y-%m") if changed else ""
        reason = next((c.reason for c in reversed(item.record.change_log) if c.status_after == "invalid"), "")
        if detect_prompt_language(item.record.text + newer.record.text) == "zh":
            line += f"（已于 {since} 失效{'：' + reason if reason else ''}；现在：{newer.record.memory}）"
        else:
            line += f" — no longer true since {since}{f' ({reason})' if reason else ''}; now: {newer.record.memory}"
    return line


def format_associations(result: RecallResult) -> str:
    """The entity relations associative thinking found, one ``source --relation--> target`` a line
    (nearest first, each once)."""
    seen: dict[tuple[str, str, str], int] = {}
    for graph in result.associations:
        for link in graph.links:
            for relation in link.relations:
                key = (link.source_name, str(relation.get("relation", "")), link.target_name)
                seen[key] = min(seen.get(key, link.distance), link.distance)
    ordered = sorted(seen.items(), key=lambda kv: kv[1])[:12]
    return "\n".join(f"- {s} --{r}--> {t}" for (s, r, t), _ in ordered)


def detect_prompt_language(text: str) -> str:
    """``zh`` when the text has CJK characters, else ``en``."""
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"


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


def build_memory_prompt(result: RecallResult, *, now: datetime | None = None, character: str | None = None) -> str:
    """The memoryPrompt block for a recall result. ``character`` (who is speaking now, MemnetAI)
    adds who "I" is in the memories that speaker said, when some of them were recalled."""
    lang = "zh" if result.language == "zh" else "en"
    head = _HEAD[lang]
    now = now or result.reference_time or datetime.now(UTC)
    zone = now.strftime("%Z") or "UTC"
    parts = [head["intro"], f"{head['now']}: {now.strftime('%Y-%m-%d %H:%M')} {zone}"]
    if character and any(it.record.character == character for it in result.all_items):
        parts.append(f"当前说话者：{character}。以“{character}:”开头或由{character}说出的记忆中，“我”指{character}本人。"
                     if lang == "zh" else
                     f"Speaking now: {character}. In memories said by {character} (\"{character}: ...\"), "
                     f"\"I\" is {character}; the others are about other people.")
    if result.time_window:
        start, end = result.time_window
        cue = f"「{result.time_cue}」: " if lang == "zh" and result.time_cue else (
            f'"{result.time_cue}": ' if result.time_cue else "")
        parts.append(f"{head['time']}\n{cue}{start.strftime('%Y-%m-%d %H:%M')} – {end.strftime('%Y-%m-%d %H:%M')}")
    if result.facts:
        by_id = {it.record.id: it for it in result.facts}
        parts.append(head["facts"] + "\n" + "\n".join(f"{i}. {format_fact(it, by_id)}"
                                                      for i, it in enumerate(result.facts, 1)))
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
    associations = format_associations(result)
    if associations:
        parts.append(("## 联想" if lang == "zh" else "## Associations") + "\n" + associations)
    if not (result.facts or result.preferences or result.tools or result.skills or result.knowledge):
        parts.append(head["empty"])
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------------------------
# recall: fine / mixture mode

REWRITE_PROMPT = {
    "zh": "根据对话历史，把用户最后的问题改写成一个独立、完整、适合检索记忆的查询（补全指代、时间和人物）。"
          "只输出改写后的查询。\n\n对话历史：\n{history}\n\n最后的问题：{query}",
    "en": "Given the chat history, rewrite the user's last question as one standalone search query for a "
          "memory store (resolve pronouns, times and names). Output only the query.\n\n"
          "Chat history:\n{history}\n\nLast question: {query}",
}
FILTER_PROMPT = {
    "zh": "问题：{query}\n\n候选记忆：\n{items}\n\n哪些记忆有助于回答这个问题？只输出一个JSON数组，包含这些记忆的编号，例如 [1, 3]。",
    "en": "Question: {query}\n\nCandidate memories:\n{items}\n\nWhich memories help answer the question? "
          "Output only a JSON array of their numbers, e.g. [1, 3].",
}


# ---------------------------------------------------------------------------------------------
# memorize: fine-mode extraction

EXTRACTION_SHAPE = """{
  "summary": "...",
  "facts": [{"key": "...", "value": "...", "memory_type": "UserMemory|LongTermMemory", "tags": ["..."],
             "confidence": 0.9, "entities": ["..."], "happened_at": "YYYY-MM-DD or ISO datetime or null",
             "time_expression": "original relative time words or null", "message_indexes": [0]}],
  "preferences": [{"preference": "...", "preference_type": "explicit_preference|implicit_preference",
                   "reasoning": "...", "topic": "...", "message_indexes": [0]}],
  "tool_trajectories": [{"tool": "...", "success": true, "error_type": "", "experience": "...",
                         "trajectory": "...", "message_indexes": [0]}],
  "skills": [{"name": "...", "description": "...", "procedure": "...", "experience": ["..."], "examples": ["..."]}],
  "relations": [{"source": "...", "relation": "...", "target": "..."}]
}"""

EXTRACT_SYSTEM_EN = """You are the memory extractor of a long-term memory system. Read the conversation and \
extract what is worth remembering about the user and the world. Write every text in English (the \
language of the conversation).
- facts: self-contained statements (who, what, where, when). memory_type UserMemory for facts about \
the user (identity, family, home, work, plans, experiences), LongTermMemory for other events and knowledge. \
key is a short title (the same title for the same attribute, e.g. "residence"). Resolve relative times \
(yesterday, last Friday, last night) to absolute dates using each message's time and put them in \
happened_at (ISO 8601); also copy the original words to time_expression.
- preferences: explicit_preference when the user states a like/dislike; implicit_preference when it can \
be inferred from behaviour; give the reasoning.
- tool_trajectories: each tool the assistant called, whether it succeeded, the error type if it failed, \
and the lesson (experience).
- skills: only when the conversation teaches a reusable procedure.
- relations: entity relations (source, relation, target), e.g. ("Tom", "lives in", "Paris").
- summary: one paragraph in {person}.
message_indexes are the [n] numbers of the messages a memory comes from. Leave a list empty when nothing \
fits. Answer with ONE JSON object of this shape and nothing else:
{shape}"""

EXTRACT_SYSTEM_ZH = """你是长期记忆系统的记忆提取器。阅读对话，提取值得长期记住的关于用户和世界的信息。所有文字使用中文（对话的语言）。
- facts：完整、独立的事实陈述（谁、什么、哪里、何时）。关于用户本人（身份、家人、住址、工作、计划、经历）的用 \
UserMemory，其他事件与知识用 LongTermMemory。key 是简短标题（同一属性用同一标题，如“居住地”）。把相对时间（昨晚、\
上周五、前天）根据每条消息的时间换算成绝对日期写入 happened_at（ISO 8601），并把原词写入 time_expression。
- preferences：用户明确说出的喜好/厌恶为 explicit_preference；从行为推断出的为 implicit_preference；写出推理 reasoning。
- tool_trajectories：助手调用的每个工具，是否成功，失败时的错误类型，以及经验教训 experience。
- skills：仅当对话传授了可复用的方法步骤时提取。
- relations：实体关系（source, relation, target），如（"小明", "住在", "上海"）。
- summary：用{person}写一段总结。
message_indexes 是记忆来源消息的 [n] 编号。没有内容的列表留空。只输出一个如下结构的 JSON 对象，不要输出其他内容：
{shape}"""


# ---------------------------------------------------------------------------------------------
# memorize: reconciliation

RECONCILE_SYSTEM_EN = """You maintain a long-term memory. For each NEW memory decide how it relates to the \
STORED memories listed under it: "duplicate" (same information, nothing new), "update" (newer or more \
precise information about the same thing, the stored one is outdated), "contradiction" (the stored one \
cannot be true any more), or "new" (compatible, keep both). For each NEW relation decide whether it \
"conflict"s with the STORED relations listed (e.g. a single-valued relation such as spouse or lives-in now \
points elsewhere) or is "compatible". Give targets (the [M..] / [S..] refs) and a short reason.
Answer with ONE JSON object and nothing else:
{"facts": [{"index": 0, "decision": "new|duplicate|update|contradiction", "targets": ["M1"], "reason": "..."}],
 "relations": [{"index": 0, "decision": "compatible|conflict", "targets": ["S1"], "reason": "..."}]}"""

RECONCILE_SYSTEM_ZH = """你在维护长期记忆。对每条“新记忆”，判断它与其下列出的“已存记忆”的关系：duplicate（信息相同，无新内容）、\
update（同一件事的更新或更准确的信息，旧的已过时）、contradiction（与旧记忆矛盾，旧的不再成立）、new（兼容，两者都保留）。\
对每条“新关系”，判断它与列出的“已存关系”是否 conflict（如配偶、居住地等单值关系已指向别处）或 compatible。\
给出 targets（[M..] / [S..] 编号）和简短理由 reason（用中文）。只输出一个 JSON 对象，不要输出其他内容：
{"facts": [{"index": 0, "decision": "new|duplicate|update|contradiction", "targets": ["M1"], "reason": "..."}],
 "relations": [{"index": 0, "decision": "compatible|conflict", "targets": ["S1"], "reason": "..."}]}"""


# ---------------------------------------------------------------------------------------------
# MemOS: feedback (natural-language corrections) and suggestions

FEEDBACK_SYSTEM = {
    "en": """You maintain a user's long-term memory. The user gives FEEDBACK that corrects or adds to what \
is remembered. The STORED memories that may be concerned are listed as [1], [2] ... For each stored memory the \
feedback shows to be wrong or outdated, give its number, the action "update" (with the corrected memory as one \
self-contained sentence) or "invalidate" (it is simply wrong, nothing replaces it), and a short reason. Put new \
information that corrects nothing in "additions". Answer with ONE JSON object and nothing else:
{"corrections": [{"ref": 1, "action": "update|invalidate", "memory": "...", "reason": "..."}], "additions": ["..."]}""",
    "zh": """你在维护用户的长期记忆。用户给出“反馈”，纠正或补充已记住的内容。可能相关的“已存记忆”以 [1]、[2] …… 编号列出。\
对反馈表明错误或过时的每条已存记忆，给出编号、动作 "update"（并给出更正后的完整独立的一句话记忆）或 "invalidate"（它是错的，\
没有替代），以及简短理由（中文）。不纠正任何记忆的新信息放入 "additions"。只输出一个 JSON 对象，不要输出其他内容：
{"corrections": [{"ref": 1, "action": "update|invalidate", "memory": "...", "reason": "..."}], "additions": ["..."]}""",
}

SUGGESTION_SYSTEM = {
    "en": """Suggest three short questions the user might ask next, based on what is remembered about them \
(listed below). Answer with ONE JSON object and nothing else: {"query": ["...", "...", "..."]}""",
    "zh": """根据下面列出的关于用户的记忆，给出用户接下来可能会问的三个简短问题（中文）。只输出一个 JSON 对象，不要输出其他内容：\
{"query": ["...", "...", "..."]}""",
}


# ---------------------------------------------------------------------------------------------
# MemnetAI think: reflection over recalled memories (pipeline/think.py)

THINK_SYSTEM = {
    "en": """You are the reflective mind of a long-term memory system. Think about the SUBJECT over the \
numbered MEMORIES: draw conclusions that none of them states alone (patterns, causes, what the person \
cares about, what is likely next). Each insight is one self-contained sentence and cites the [n] numbers \
of the memories it rests on. Do not repeat a memory as an insight. Answer with ONE JSON object and nothing else:
{"content": "your reflection, one paragraph", "summary": "one sentence",
 "insights": [{"text": "...", "sources": [1, 2]}]}""",
    "zh": """你是长期记忆系统的“思考”模块。围绕主题，对编号的记忆进行反思：得出任何单条记忆都没有直接说出的结论\
（规律、原因、这个人在意什么、接下来可能发生什么）。每条洞见是一句完整、独立的话，并注明其依据的记忆编号 [n]。\
不要把记忆原样复述为洞见。只输出一个 JSON 对象，不要输出其他内容：
{"content": "你的思考，一段话", "summary": "一句话总结", "insights": [{"text": "...", "sources": [1, 2]}]}""",
}
THINK_USER = {
    "en": "SUBJECT: {subject}\n\nMEMORIES:\n{memories}",
    "zh": "主题：{subject}\n\n记忆：\n{memories}",
}
#: The subject when the caller gives none: the recent topics (the newest memories) are reflected on.
THINK_RECENT_SUBJECT = {"en": "recent topics", "zh": "最近的话题"}
