"""Engine records and recall results -> each API family's item shapes (wire.md §1.4, §3.2, §6).

Every item carries the caller's ``info`` from add time: in ``metadata.info`` (MemOS open-source),
in ``info`` (MemOS cloud) and in ``metaData`` (MemnetAI; the ``metadata`` string given at add
time, or the info as JSON).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from memos_integrations.domain.models import MemoryRecord, MemoryStatus, MemoryType, ResourceRecord
from memos_integrations.domain.requests import (
    AssociationGraph,
    MemorizeResult,
    RecallItem,
    RecallResult,
)

MEMNET_STATUS = {MemoryStatus.ACTIVATED: 1, MemoryStatus.INVALID: 0, MemoryStatus.ARCHIVED: 2,
                 MemoryStatus.DELETED: 3}
ZERO_USAGE = {
    "consumedPoints": "0", "consumedMemoryCount": "0", "consumedRecallCount": "0",
    "consumedThinkingCount": "0", "consumedDreamCount": "0", "consumedCommonMemoryWords": "0",
    "hasRemainingQuota": True,
}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value else None


def _plain(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


# ---------------------------------------------------------------------------------------------
# MemOS open-source


def product_item(record: MemoryRecord, relativity: float | None = None, score: float | None = None) -> dict[str, Any]:
    """``{id, memory, ref_id, metadata}`` as ``format_memory_item`` writes it."""
    ref_id = f"[{record.id.replace('-', '')[:8]}]"
    metadata: dict[str, Any] = {**record.extra}
    metadata.update({
        "user_id": record.user_id,
        "session_id": record.session_id,
        "status": record.status.value,
        "is_fast": record.is_fast,
        "key": record.key,
        "confidence": record.confidence,
        "source": "conversation",
        "tags": record.tags,
        "visibility": "private",
        "updated_at": _iso(record.updated_at),
        "created_at": _iso(record.created_at),
        "happened_at": _iso(record.happened_at),
        "info": record.info,
        "memory_type": record.memory_type.value,
        "sources": record.sources,
        "embedding": [],
        "usage": [],
        "background": "",
        "user_name": record.cube_id,
        "cube_id": record.cube_id,
        "agent_id": record.agent_id,
        "app_id": record.app_id,
        "character": record.character,
        "language": record.language,
        "entities": record.entities,
        "impression": record.impression,
        "recall_count": record.recall_count,
        "superseded_by": record.superseded_by,
        "change_log": [c.model_dump(mode="json") for c in record.change_log],
        "ref_id": ref_id,
        "id": record.id,
        "memory": record.memory,
    })
    if record.extra.get("outer"):  # an internet search result (never stored)
        metadata.update({"memory_type": "OuterMemory", "source": "internet"})
    if relativity is not None:
        metadata["relativity"] = relativity
    if score is not None:
        metadata["score"] = score
    return {"id": record.id, "memory": record.memory, "ref_id": ref_id, "metadata": metadata}


def _by_cube(items: Iterable[RecallItem]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        out.setdefault(item.record.cube_id, []).append(product_item(item.record, item.relativity, item.score))
    return out


def product_search_data(result: RecallResult, cube_ids: list[str]) -> dict[str, Any]:
    """``data`` of ``/product/search``: per-cube buckets of each memory family."""
    facts = _by_cube(result.facts)
    data: dict[str, Any] = {
        "text_mem": [{"cube_id": c, "memories": facts[c]} for c in cube_ids if facts.get(c)],
    }
    for key, items in (("pref_mem", result.preferences), ("tool_mem", result.tools), ("skill_mem", result.skills)):
        grouped = _by_cube(items)
        data[key] = [{"cube_id": c, "memories": grouped.get(c, []), "total_nodes": len(grouped.get(c, []))}
                     for c in cube_ids]
    data["act_mem"] = []
    data["para_mem"] = []
    data["pref_note"] = result.preference_note or ""
    if result.preferences:
        data["pref_string"] = result.preference_note
    data["knowledge_mem"] = [product_item(i.record, i.relativity, i.score) for i in result.knowledge]
    data["memory_prompt"] = result.memory_prompt
    return data


def product_export_buckets(cube_id: str, records: list[MemoryRecord], total: int) -> dict[str, Any]:
    """One cube's bucket for ``/product/get_memory``."""
    return {"cube_id": cube_id, "memories": [product_item(r) for r in records], "total_nodes": total}


def product_add_entries(result: MemorizeResult) -> list[dict[str, Any]]:
    return [
        {"memory": r.memory, "memory_id": r.id, "memory_type": r.memory_type.value, "cube_id": r.cube_id}
        for r in result.memories
        if r.memory_type is not MemoryType.WORKING
    ]


# ---------------------------------------------------------------------------------------------
# MemOS cloud


def _cloud_common(record: MemoryRecord, relativity: float | None) -> dict[str, Any]:
    return {
        "id": record.id,
        "create_time": _ms(record.created_at),
        "update_time": _ms(record.updated_at),
        "conversation_id": record.session_id,
        "status": record.status.value,
        "relativity": relativity,
        "info": record.info,
        "user_id": record.user_id,
        "agent_id": record.agent_id,
        "app_id": record.app_id,
        "cube_id": record.cube_id,
    }


def cloud_memory_detail(record: MemoryRecord, relativity: float | None = None) -> dict[str, Any]:
    return {
        **_cloud_common(record, relativity),
        "memory_key": record.key,
        "memory_value": record.memory,
        "memory_type": record.memory_type.value,
        "confidence": record.confidence,
        "tags": record.tags,
        "happened_time": _ms(record.happened_at),
    }


def cloud_preference_detail(record: MemoryRecord, relativity: float | None = None) -> dict[str, Any]:
    return {
        **_cloud_common(record, relativity),
        "preference": record.extra.get("preference") or record.memory,
        "preference_type": record.extra.get("preference_type", "explicit_preference"),
        "reasoning": record.extra.get("reasoning", ""),
    }


def cloud_tool_detail(record: MemoryRecord, relativity: float | None = None) -> dict[str, Any]:
    value: Any = record.memory
    if record.memory_type is MemoryType.TOOL_SCHEMA:
        try:
            value = json.loads(record.memory)
        except ValueError:
            value = record.memory
    return {
        **_cloud_common(record, relativity),
        "tool_type": record.memory_type.value,
        "tool_value": value,
        "tool_used_status": record.extra.get("tool_used_status", []),
        "experience": record.extra.get("experience", ""),
    }


def cloud_skill_detail(record: MemoryRecord, relativity: float | None = None) -> dict[str, Any]:
    extra = record.extra
    return {
        **_cloud_common(record, relativity),
        "skill_value": {
            "name": extra.get("name") or record.key,
            "description": extra.get("description") or record.memory,
            "procedure": extra.get("procedure", ""),
            "experience": extra.get("experience", []),
            "preference": extra.get("preference", []),
            "examples": extra.get("examples", []),
            "script": extra.get("scripts") or {},
            "others": extra.get("others") or {},
        },
        "skill_url": extra.get("url", ""),
        "skill_type": extra.get("skill_source", ""),
        "confidence": record.confidence,
        "tags": record.tags,
    }


def cloud_detail(record: MemoryRecord, relativity: float | None = None) -> dict[str, Any]:
    family = record.family
    if family == "preference":
        return cloud_preference_detail(record, relativity)
    if family == "tool":
        return cloud_tool_detail(record, relativity)
    if family == "skill":
        return cloud_skill_detail(record, relativity)
    return cloud_memory_detail(record, relativity)


def cloud_profile_detail(profile: ResourceRecord) -> dict[str, Any]:
    """A profile instance (``profile_detail_list``): its template, subject and fields."""
    meta = profile.meta
    subject_kind = meta.get("subject_kind", "user")
    return {
        "profile_template_id": meta.get("template_id", ""),
        "user_id": meta.get("subject") if subject_kind == "user" else None,
        "agent_id": meta.get("subject") if subject_kind == "agent" else None,
        "metadata": meta.get("fields", {}),
        "create_time": _ms(profile.created_at),
        "update_time": meta.get("updated_at"),
    }


def cloud_search_data(result: RecallResult, *, profiles: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``data`` of ``search/memory``: knowledge-base hits are in ``memory_detail_list`` too
    (``memory_type`` KnowledgeMemory, after the user's own facts) and in ``knowledge_detail_list``."""
    knowledge = [cloud_memory_detail(i.record, i.relativity) for i in result.knowledge]
    for detail, item in zip(knowledge, result.knowledge, strict=True):
        detail["knowledgebase_id"] = item.record.cube_id.removeprefix("commonsense__")
        detail["file_id"] = item.record.info.get("file_id")
    return {
        "profile_detail_list": profiles or [],
        "memory_detail_list": [*(cloud_memory_detail(i.record, i.relativity) for i in result.facts), *knowledge],
        "preference_detail_list": [cloud_preference_detail(i.record, i.relativity) for i in result.preferences],
        "tool_memory_detail_list": [cloud_tool_detail(i.record, i.relativity) for i in result.tools],
        "skill_detail_list": [cloud_skill_detail(i.record, i.relativity) for i in result.skills],
        "knowledge_detail_list": knowledge,
        "preference_note": result.preference_note or "",
        "memory_prompt": result.memory_prompt,
    }


# ---------------------------------------------------------------------------------------------
# MemnetAI


def memnet_metadata(record: MemoryRecord) -> str:
    value = record.info.get("metadata")
    if isinstance(value, str):
        return value
    return json.dumps(record.info, ensure_ascii=False) if record.info else ""


def memnet_summary(item: RecallItem, *, detailed: bool = False) -> dict[str, Any]:
    """One ``memorySummaryList`` entry: the documented fields (+ ``relativity``); with ``detailed``
    (``isReturningDetailedMemoryInfo: 1``) also everything else the record holds (:func:`memnet_details`)."""
    record = item.record
    summary = {
        "memorySummaryId": record.id,
        "memorySummaryText": record.memory,
        "maxImpression": item.impression,
        "charactersInMemory": record.character,
        "memnetaiContextId": record.session_id,
        "contextType": 1 if "insight" in record.tags else 0,  # 0 conversation, 1 think (an insight)
        "memoryStatus": MEMNET_STATUS.get(record.status, 1),
        "linkedNewMemorySummaryId": record.superseded_by or "",
        "memoryChangeLog": json.dumps([c.model_dump(mode="json") for c in record.change_log], ensure_ascii=False)
        if record.change_log else "",
        "metaData": memnet_metadata(record),
        "score": item.score,
        "relativity": item.relativity,
        "createTime": _plain(record.happened_at or record.created_at),
        "updateTime": _plain(record.updated_at),
    }
    return {**summary, **memnet_details(item)} if detailed else summary


def memnet_details(item: RecallItem) -> dict[str, Any]:
    """The detailed-only fields of a recalled memory (camelCase, MemnetAI style)."""
    record = item.record
    return {
        "memoryKey": record.key,
        "memoryType": record.memory_type.value,
        "memoryKind": record.family,
        "cubeId": record.cube_id,
        "language": record.language,
        "tags": list(record.tags),
        "entities": list(record.entities),
        "confidence": record.confidence,
        "info": dict(record.info),
        "sources": list(record.sources),
        "storedImpression": record.impression,
        "mentionCount": record.mention_count,
        "recallCount": record.recall_count,
        "happenedTime": _plain(record.happened_at),
        "storedTime": _plain(record.created_at),
        "lastRecalledTime": _plain(record.last_recalled_at),
        "linkedFromMemorySummaryId": item.linked_from or "",
    }


def memnet_association(graph: AssociationGraph) -> dict[str, Any]:
    return {
        "nodes": [{"id": n.id, "name": n.name} for n in graph.nodes],
        "links": [
            {"sourceNodeId": link.source_id, "sourceNodeName": link.source_name, "targetNodeId": link.target_id,
             "targetNodeName": link.target_name, "distance": link.distance, "relation": link.relations}
            for link in graph.links
        ],
    }


def memnet_common_sense(item: RecallItem, *, detailed: bool = False) -> dict[str, Any]:
    """One ``commonSenseList`` entry (with ``detailed`` also its scores and metadata)."""
    record = item.record
    entry: dict[str, Any] = {
        "id": record.id,
        "memnetaiCommonSenseDatabaseName": record.info.get("common_sense_database_id")
        or record.extra.get("database_id") or record.cube_id,
        "text": record.memory,
        "createTime": _plain(record.created_at),
        "updateTime": _plain(record.updated_at),
    }
    if detailed:
        entry.update({"score": item.score, "relativity": item.relativity, "metaData": memnet_metadata(record),
                      "info": dict(record.info)})
    return entry


def memnet_recall_data(result: RecallResult, *, detailed: bool = False) -> dict[str, Any]:
    """``data`` of ``/v1/recall``. ``detailed`` (``isReturningDetailedMemoryInfo``) adds every
    detail of each memory and common-sense entry; the documented fields are always there."""
    summaries = [*result.facts, *result.preferences, *result.tools, *result.skills]
    return {
        "memoryPrompt": result.memory_prompt,
        "memorySummaryList": [memnet_summary(i, detailed=detailed) for i in summaries],
        "associativeThinkingList": [memnet_association(g) for g in result.associations],
        "commonSenseList": [memnet_common_sense(i, detailed=detailed) for i in result.knowledge],
        "usage": dict(ZERO_USAGE),
    }


def memnet_memories_info(result: MemorizeResult | None) -> dict[str, Any]:
    if result is None:
        return {"newMemoryCount": 0, "summarys": [], "entityRelationship": {"nodes": [], "links": []},
                "historyMemorySummaryConflictAnalyses": [], "historyEntityRelationCorrections": []}
    names = list(dict.fromkeys([n for r in result.relations for n in (r.source, r.target)]))
    return {
        "newMemoryCount": len(result.memories),
        "summarys": [r.memory for r in result.memories],
        "entityRelationship": {
            "nodes": [{"name": n} for n in names],
            "links": [{"sourceEntityName": r.source, "targetEntityName": r.target,
                       "relations": [{"relation": r.relation}]} for r in result.relations],
        },
        "historyMemorySummaryConflictAnalyses": [
            {"summary": c.summary, "statusBeforeChange": c.status_before, "statusAfterChange": c.status_after,
             "memoryChangeExplain": c.explain} for c in result.conflicts
        ],
        "historyEntityRelationCorrections": [
            {"sourceEntityName": c.source, "targetEntityName": c.target, "originalRelation": c.original_relation,
             "newRelation": c.new_relation, "correctionReason": c.reason} for c in result.relation_corrections
        ],
    }


def memnet_usage(*, memories: int = 0, recalls: int = 0, thinking: int = 0, dreams: int = 0,
                 common_words: int = 0) -> dict[str, Any]:
    """The ``usage`` block of one MemnetAI call for its memory agent: what this call consumed
    (this server has no quota and no points)."""
    return {**ZERO_USAGE, "consumedMemoryCount": str(memories), "consumedRecallCount": str(recalls),
            "consumedThinkingCount": str(thinking), "consumedDreamCount": str(dreams),
            "consumedCommonMemoryWords": str(common_words)}


def memnet_think_info(result: dict[str, Any] | None) -> dict[str, Any]:
    """``content``/``summary`` of a think (seed docs) plus the stored insights and their sources."""
    result = result or {}
    return {
        "content": result.get("content", ""), "summary": result.get("summary", ""),
        "subject": result.get("subject", ""),
        "insights": [{"memorySummaryId": i["id"], "memorySummaryText": i["text"],
                      "sourceMemorySummaryIds": i.get("source_memory_ids", [])} for i in result.get("insights", [])],
        "warnings": list(result.get("warnings", [])),
    }


def memnet_dream_info(result: dict[str, Any] | None) -> dict[str, Any]:
    """What a dream changed: merged duplicates, archived (forgotten) memories, raw memories turned
    fine, conflicts resolved; ``warnings`` says what was skipped (e.g. no chat model)."""
    result = result or {}
    merged = result.get("merged", [])
    summary = (f"merged {sum(len(m['merged_ids']) for m in merged)} duplicate(s), archived "
               f"{len(result.get('archived_ids', []))} forgotten memory(ies), enriched "
               f"{result.get('enriched_requests', 0)} raw request(s), resolved {len(result.get('conflicts', []))} "
               "conflict(s)") if result else ""
    return {
        "content": summary, "summary": summary,
        "mergedMemories": [{"keptMemorySummaryId": m["kept_id"], "mergedMemorySummaryIds": m["merged_ids"],
                            "memorySummaryText": m["text"]} for m in merged],
        "archivedMemorySummaryIds": list(result.get("archived_ids", [])),
        "newMemorySummaryIds": list(result.get("new_memory_ids", [])),
        "historyMemorySummaryConflictAnalyses": list(result.get("conflicts", [])),
        "warnings": list(result.get("warnings", [])),
    }
