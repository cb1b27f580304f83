"""The memory inspector: ``/ui`` (a static page) and its JSON endpoints under ``/ui/api``.

Every read and change goes through the public :class:`~memos_integrations.engine.MemoryEngine`
API, so edits land in the memory's change log like any other edit. Auth: see
:mod:`memos_integrations.server.ui.access`. The routes are left out of the OpenAPI schema (they
serve this page, not API clients).

===============================================  ==============================================
route                                            what
===============================================  ==============================================
``GET /ui``                                      the page (the login form, 401, without a key)
``POST /ui/login``, ``POST /ui/logout``          set / clear the key cookie
``GET /ui/static/{file}``                        the page's JS, CSS and vendored cytoscape.js
``GET /ui/api/whoami``                           the key's grant (users, cubes, open or not)
``GET /ui/api/users``                            users -> cubes the key may read
``GET /ui/api/cubes/{cube}/memories``            a page of memories (kind, status, filter) or a
                                                 full-text / hybrid search (``q``, ``search``)
``GET /ui/api/cubes/{cube}/relations``           entities and relations (fine mode) as a graph
``GET /ui/api/memories/{id}``                    one memory, its history timeline and links
``PATCH /ui/api/memories/{id}``                  edit text / title / status / tags (change log)
``DELETE /ui/api/memories/{id}``                 delete it
``POST /ui/api/recall``                          recall explained (score parts, threshold cut,
                                                 the exact memoryPrompt)
``GET /ui/api/tasks``, ``POST .../{id}/retry``,  durable tasks; retry, cancel
``POST .../{id}/cancel``
===============================================  ==============================================
"""

from __future__ import annotations

import functools
import gzip
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from memos_integrations.domain.models import FACT_TYPES, MemoryRecord, MemoryStatus, MemoryType, TaskStatus
from memos_integrations.domain.requests import RecallItem, RecallOptions, RecallRequest
from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import AuthenticationError, InvalidRequestError, NotFoundError
from memos_integrations.server.auth import Principal, principal_for
from memos_integrations.server.cubes import owner_of
from memos_integrations.server.deps import get_engine
from memos_integrations.server.routers.common import find_task, task_visible, visible_tasks
from memos_integrations.server.routers.product import may_read_cube
from memos_integrations.server.ui.access import (
    COOKIE,
    SHARED,
    check_readable,
    credentials,
    require_ui,
    ui_principal,
    users_of,
    visible_cubes,
)

STATIC_DIR = Path(__file__).parent / "static"
#: Kinds shown in the table: the recall family, and ``raw`` for fast-mode windows (tag ``mode:fast``).
KINDS = ("fact", "preference", "tool", "skill", "knowledge", "raw")
FAMILY_TYPES: dict[str, list[MemoryType]] = {
    "fact": list(FACT_TYPES), "preference": [MemoryType.PREFERENCE],
    "tool": [MemoryType.TOOL_SCHEMA, MemoryType.TOOL_TRAJECTORY], "skill": [MemoryType.SKILL],
    "knowledge": [MemoryType.KNOWLEDGE],
}
FAST_TAG = "mode:fast"
#: The page's headers: no framing, no inline or remote scripts, nothing cached (memories).
PAGE_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

page_router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Depends(require_ui)])


def _no_store(response: Response) -> None:
    """Memories are never cached by the browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"


api_router = APIRouter(prefix="/ui/api", include_in_schema=False, dependencies=[Depends(_no_store)])


def _page(name: str, status: int = 200, error: str = "") -> HTMLResponse:
    html = (STATIC_DIR / name).read_text(encoding="utf-8")
    html = html.replace("{{error}}", _escape(error))
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


# ------------------------------------------------------------------------------------------------
# the page, login, static files


@page_router.get("", response_class=HTMLResponse)
@page_router.get("/", response_class=HTMLResponse)
def page(request: Request) -> HTMLResponse:
    """The inspector; with keys configured and no valid key (header or cookie) the login form (401)."""
    header, _ = credentials(request)
    try:
        principal_for(request.app.state.api_keys, header)
    except AuthenticationError as exc:
        return _page("login.html", 401, exc.message if header else "")
    return _page("index.html")


@page_router.post("/login")
async def login(request: Request) -> Response:
    """The login form: check the key, keep it in an HttpOnly ``SameSite=Strict`` cookie."""
    form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0].strip()
    try:
        principal_for(request.app.state.api_keys, f"Token {key}" if key else None)
    except AuthenticationError as exc:
        return _page("login.html", 401, exc.message)
    response = RedirectResponse("/ui/", status_code=303)
    if request.app.state.api_keys:
        response.set_cookie(COOKIE, key, httponly=True, samesite="strict", path="/ui",
                            secure=request.url.scheme == "https")
    return response


@page_router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/ui/", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@page_router.get("/static/{name:path}")
def static(name: str, request: Request) -> Response:
    """The page's own files (no data in them; the inspector being on is the only condition),
    gzip-compressed for browsers that accept it, revalidated with an ETag."""
    path = (STATIC_DIR / name).resolve()
    if not path.is_file() or STATIC_DIR.resolve() not in path.parents or path.suffix == ".html":
        raise NotFoundError(f"no static file {name!r}")
    media = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
             ".txt": "text/plain", ".svg": "image/svg+xml"}.get(path.suffix, "application/octet-stream")
    stat = path.stat()
    gzip_ok = "gzip" in request.headers.get("accept-encoding", "").lower()
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}{"-gz" if gzip_ok else ""}"'
    headers = {"Cache-Control": "no-cache", "ETag": etag, "Vary": "Accept-Encoding",
               "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if gzip_ok:
        return Response(_gzipped(str(path), stat.st_mtime_ns), media_type=media,
                        headers={**headers, "Content-Encoding": "gzip"})
    return Response(path.read_bytes(), media_type=media, headers=headers)


@functools.lru_cache(maxsize=32)
def _gzipped(path: str, mtime_ns: int) -> bytes:
    """A static file, gzip-compressed once per version (``mtime_ns`` is part of the cache key)."""
    return gzip.compress(Path(path).read_bytes(), compresslevel=6, mtime=0)


# ------------------------------------------------------------------------------------------------
# JSON: what the key may see


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def kind_of(record: MemoryRecord) -> str:
    return "raw" if record.is_fast or FAST_TAG in record.tags else record.family


def summary(record: MemoryRecord) -> dict[str, Any]:
    """A memory's row in the table."""
    return {
        "id": record.id, "cube_id": record.cube_id, "user_id": record.user_id, "kind": kind_of(record),
        "memory_type": record.memory_type.value, "status": record.status.value, "key": record.key,
        "memory": record.memory, "tags": record.tags, "session_id": record.session_id,
        "happened_at": _time(record.happened_at), "created_at": _time(record.created_at),
        "updated_at": _time(record.updated_at), "impression": round(record.impression, 4),
        "recall_count": record.recall_count, "mention_count": record.mention_count,
        "superseded_by": record.superseded_by,
    }


@api_router.get("/whoami")
def whoami(principal: Principal = Depends(ui_principal)) -> dict[str, Any]:
    return {"open": principal.open, "unrestricted": principal.unrestricted, "account": principal.account,
            "users": sorted(principal.users), "cubes": sorted(principal.cubes)}


@api_router.get("/users")
def users(principal: Principal = Depends(ui_principal), engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Users -> their cubes, only what the key may read."""
    grouped = users_of(visible_cubes(engine, principal))
    return {"users": [{"user_id": user, "cubes": cubes} for user, cubes in grouped.items()]}


def _statuses(status: str) -> list[MemoryStatus] | None:
    if status == "all":
        return [MemoryStatus.ACTIVATED, MemoryStatus.INVALID, MemoryStatus.ARCHIVED]
    try:
        return [MemoryStatus(status)]
    except ValueError:
        raise InvalidRequestError(f"status must be all, activated, invalid or archived, not {status!r}") from None


def _kind_filter(kind: str) -> tuple[list[MemoryType] | None, dict[str, Any] | None]:
    if kind in ("", "all"):
        return None, None
    if kind == "raw":
        return None, {"tags": FAST_TAG}
    if kind not in FAMILY_TYPES:
        raise InvalidRequestError(f"kind must be one of {', '.join(KINDS)} or all, not {kind!r}")
    return FAMILY_TYPES[kind], ({"tags": {"ne": FAST_TAG}} if kind == "fact" else None)


@api_router.get("/cubes/{cube_id}/memories")
def memories(
    cube_id: str, kind: str = "all", status: str = "all",
    q: str = Query(default="", max_length=2000), search: Literal["fulltext", "hybrid"] = "hybrid",
    filter: str = Query(default="", max_length=4000, description="MemOS filter DSL as JSON (list only)"),
    offset: int = Query(default=0, ge=0, le=9_900), limit: int = Query(default=50, ge=1, le=100),
    principal: Principal = Depends(ui_principal), engine: MemoryEngine = Depends(get_engine),
) -> dict[str, Any]:
    """A page of one cube's memories, newest first; with ``q`` the best matches of a full-text
    (BM25) or hybrid search instead (each row then carries its search ``score``)."""
    import json

    check_readable(engine, principal, cube_id)
    statuses = _statuses(status)
    memory_types, kind_spec = _kind_filter(kind)
    if q.strip():
        hits = engine.search_memories(cube_id, q, mode="bm25" if search == "fulltext" else "hybrid",
                                      statuses=statuses, memory_types=memory_types, limit=min(limit, 50))
        rows = [{**summary(h.record), "score": round(h.score, 4),
                 "bm25": None if h.bm25_score is None else round(h.bm25_score, 3),
                 "distance": None if h.distance is None else round(h.distance, 4)}
                for h in hits if kind not in ("raw", "fact") or kind_of(h.record) == kind]
        return {"cube_id": cube_id, "total": len(rows), "search": search, "items": rows}
    spec: dict[str, Any] | None = None
    if filter.strip():
        try:
            spec = json.loads(filter)
        except ValueError as exc:
            raise InvalidRequestError(f"filter is not JSON: {exc}") from None
        if not isinstance(spec, dict):
            raise InvalidRequestError("filter must be a JSON object (MemOS filter DSL)")
    if kind_spec is not None:
        spec = {"and": [spec, kind_spec]} if spec else kind_spec
    records = engine.list_memories(cube_id, filter=spec, memory_types=memory_types, statuses=statuses,
                                   offset=offset, limit=limit)
    total = engine.count_memories(cube_id, filter=spec, memory_types=memory_types, statuses=statuses)
    return {"cube_id": cube_id, "total": total, "offset": offset, "items": [summary(r) for r in records]}


def _visible_memory(engine: MemoryEngine, principal: Principal, memory_id: str) -> MemoryRecord:
    """The memory if the key may read its cube; 404 otherwise (existence is not leaked)."""
    record = engine.get_memory(memory_id)  # then the key's rule for its cube (namespaces and owned cubes too)
    if record is None or not may_read_cube(engine, principal, record.cube_id):
        raise NotFoundError(f"Memory with ID {memory_id} not found")
    return record


def _link(record: MemoryRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"id": record.id, "memory": record.text, "status": record.status.value, "kind": kind_of(record)}


@api_router.get("/memories/{memory_id}")
def memory_detail(memory_id: str, principal: Principal = Depends(ui_principal),
                  engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """One memory with its history: where it came from (messages, raw memories, task), every
    change-log entry (old status -> new status, reason, the related memory), the memories it
    replaced and the one that replaced it."""
    record = _visible_memory(engine, principal, memory_id)
    cube = [record.cube_id]
    linked_ids = [i for i in {*(e.related_memory_id for e in record.change_log if e.related_memory_id),
                              *([record.superseded_by] if record.superseded_by else []),
                              *record.source_memory_ids}]
    linked = {r.id: r for r in engine.get_memories(linked_ids, cube)} if linked_ids else {}
    replaced = engine.superseded_memories(record.id, record.cube_id)
    timeline: list[dict[str, Any]] = [{
        "at": _time(record.created_at), "event": "created",
        "text": f"stored as {record.memory_type.value} ({kind_of(record)})",
        "session_id": record.session_id, "task_id": record.task_id, "sources": record.sources,
        "happened_at": _time(record.happened_at),
        "from_memories": [_link(linked.get(i)) or {"id": i, "memory": "(deleted)", "status": "deleted"}
                          for i in record.source_memory_ids],
    }]
    for old in replaced:
        timeline.append({"at": _time(old.updated_at), "event": "replaced", "text": "replaced an older memory",
                         "related": _link(old)})
    for entry in record.change_log:
        related = linked.get(entry.related_memory_id or "")
        timeline.append({
            "at": _time(entry.at), "event": "change", "status_before": entry.status_before,
            "status_after": entry.status_after, "reason": entry.reason,
            "related": _link(related) or ({"id": entry.related_memory_id, "memory": "(not found)", "status": "deleted"}
                                          if entry.related_memory_id else None),
        })
    timeline.sort(key=lambda e: e["at"] or "")
    full = record.model_dump(mode="json", exclude={"vector"})
    return {"memory": {**full, **summary(record), "text": record.text}, "timeline": timeline,
            "superseded_by": _link(linked.get(record.superseded_by or "")) if record.superseded_by else None,
            "superseded": [_link(r) for r in replaced]}


class MemoryEdit(BaseModel):
    """An edit from the inspector: each given field becomes a change-log entry."""

    memory: str | None = Field(default=None, max_length=20_000, description="new text (re-embedded)")
    key: str | None = Field(default=None, max_length=500, description="new title")
    status: Literal["activated", "invalid", "archived"] | None = None
    tags: list[str] | None = Field(default=None, max_length=100)
    reason: str = Field(default="", max_length=500)


def _quote(text: str, limit: int = 160) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


@api_router.patch("/memories/{memory_id}")
def edit(memory_id: str, body: MemoryEdit, principal: Principal = Depends(ui_principal),
         engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Edit through the engine (``edit_memory`` / ``update_memory``): the change log records old
    -> new for the text and title, and the status change."""
    record = _visible_memory(engine, principal, memory_id)
    cube, note = [record.cube_id], (f" - {body.reason.strip()}" if body.reason.strip() else "")
    if body.key is not None and body.key.strip() != record.key:
        engine.edit_memory(memory_id, cube, title=body.key,
                           reason=f"edited in the inspector: title {_quote(record.key)} -> {_quote(body.key.strip())}{note}")
    if body.memory is not None and body.memory.strip() != record.memory:
        engine.update_memory(memory_id, cube, memory=body.memory,
                             reason=f"edited in the inspector: text {_quote(record.memory)} -> "
                                    f"{_quote(body.memory.strip())}{note}")
    if body.status is not None and body.status != record.status.value:
        engine.update_memory(memory_id, cube, status=MemoryStatus(body.status),
                             reason=f"{body.status} in the inspector{note}")
    if body.tags is not None and list(body.tags) != record.tags:
        engine.update_memory(memory_id, cube, tags=body.tags,
                             reason=f"edited in the inspector: tags {record.tags} -> {list(body.tags)}{note}")
    updated = engine.get_memory(memory_id, cube)
    if updated is None:
        raise NotFoundError(f"Memory with ID {memory_id} not found")
    return {"memory": summary(updated)}


@api_router.delete("/memories/{memory_id}")
def delete(memory_id: str, principal: Principal = Depends(ui_principal),
           engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    record = _visible_memory(engine, principal, memory_id)
    return {"deleted": engine.delete_memories([memory_id], [record.cube_id])}


@api_router.get("/cubes/{cube_id}/relations")
def relations(cube_id: str, status: str = "activated", principal: Principal = Depends(ui_principal),
              engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Entities (nodes) and relations (edges) of a cube, from fine-mode extraction."""
    check_readable(engine, principal, cube_id)
    wanted = {s.value for s in _statuses(status) or []}
    rels = [r for r in engine.list_relations(cube_id) if r.status.value in wanted]
    names: dict[str, str] = {}
    for rel in rels:
        for name in (rel.source, rel.target):
            names.setdefault(name.casefold(), name)
    return {"cube_id": cube_id,
            "nodes": [{"id": key, "label": name} for key, name in sorted(names.items())],
            "edges": [{"id": r.id, "source": r.source.casefold(), "target": r.target.casefold(),
                       "relation": r.relation, "status": r.status.value, "impression": round(r.impression, 3),
                       "memory_ids": r.memory_ids} for r in rels]}


# ------------------------------------------------------------------------------------------------
# recall explained


class RecallExplainRequest(BaseModel):
    cube_id: str = Field(min_length=1, max_length=256)
    query: str = Field(min_length=1, max_length=4000)
    mode: Literal["fast", "fine", "mixture"] = "fast"
    threshold: float = Field(default=RecallOptions().relativity, ge=0.0, le=1.0)
    top_k: int = Field(default=RecallOptions().top_k, ge=1, le=25)
    reference_time: datetime | None = None
    session_id: str | None = Field(default=None, max_length=256)


def _explained(bucket: str, item: RecallItem) -> dict[str, Any]:
    parts = getattr(item, "score_parts", None) or {}
    return {"bucket": bucket, "memory": summary(item.record), "score": round(item.score, 4),
            "relativity": round(item.relativity, 4), "impression": round(item.impression, 4),
            "linked_from": item.linked_from,
            "score_parts": {str(k): round(float(v), 4) for k, v in dict(parts).items()}}


@api_router.post("/recall")
def recall_explained(body: RecallExplainRequest, principal: Principal = Depends(ui_principal),
                     engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Recall as the API would (``threshold`` = ``relativity``), plus the same recall with
    threshold 0 and top_k 25 to show what the threshold (or top_k) cut. Neither recall reinforces
    impressions or counts (inspecting changes nothing)."""
    check_readable(engine, principal, body.cube_id)
    user_id = owner_of(body.cube_id) or body.cube_id
    common: dict[str, Any] = {"user_id": user_id, "cube_ids": [body.cube_id], "mode": body.mode,
                              "reference_time": body.reference_time, "session_id": body.session_id,
                              "use_common_sense": False, "use_global_common_sense": False,
                              "reinforce": False}
    exact = engine.recall(RecallRequest(query=body.query, relativity=body.threshold, top_k=body.top_k, **common))
    wide = engine.recall(RecallRequest(query=body.query, relativity=0.0, top_k=25, preference_top_k=25,
                                       tool_top_k=25, skill_top_k=25, **common))
    kept = {(b, i.record.id) for b in ("facts", "preferences", "tools", "skills")
            for i in getattr(exact, b)}
    items: list[dict[str, Any]] = []
    for bucket in ("facts", "preferences", "tools", "skills"):
        exact_items = {i.record.id: i for i in getattr(exact, bucket)}
        seen: set[str] = set()
        for item in [*getattr(exact, bucket), *getattr(wide, bucket)]:
            if item.record.id in seen:
                continue
            seen.add(item.record.id)
            row = _explained(bucket, exact_items.get(item.record.id, item))
            row["kept"] = (bucket, item.record.id) in kept
            row["cut"] = (None if row["kept"] else "threshold" if item.relativity < body.threshold else "top_k")
            items.append(row)
    items.sort(key=lambda r: (not r["kept"], -r["score"]))
    return {
        "query": body.query, "mode": exact.mode, "threshold": body.threshold, "top_k": body.top_k,
        "language": exact.language, "memory_prompt": exact.memory_prompt, "time_cue": exact.time_cue,
        "time_window": [t.isoformat() for t in exact.time_window] if exact.time_window else None,
        "reference_time": _time(exact.reference_time), "rewritten_query": exact.rewritten_query,
        "warnings": list(dict.fromkeys([*exact.warnings, *wide.warnings])), "llm_calls": exact.llm_calls + wide.llm_calls,
        "items": items,
    }


# ------------------------------------------------------------------------------------------------
# tasks


def _task(task: Any) -> dict[str, Any]:
    return {"id": task.id, "kind": task.kind, "user_id": task.user_id, "status": task.status.value,
            "error": task.error, "attempts": task.attempts, "idempotency_key": task.idempotency_key,
            "created_at": _time(task.created_at), "updated_at": _time(task.updated_at)}


@api_router.get("/tasks")
def tasks(status: str = "all", user_id: str | None = None, principal: Principal = Depends(ui_principal),
          engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """The durable tasks the key may see (newest first), optionally of one status or user."""
    if user_id is not None and user_id != SHARED:
        principal.check_user(user_id)
    found = [t for t in visible_tasks(engine, principal, user_id) if task_visible(principal, t)]
    if status != "all":
        try:
            wanted = TaskStatus(status)
        except ValueError:
            raise InvalidRequestError(f"unknown task status {status!r}") from None
        found = [t for t in found if t.status is wanted]
    found.sort(key=lambda t: t.created_at, reverse=True)
    return {"tasks": [_task(t) for t in found[:500]]}


@api_router.post("/tasks/{task_id}/retry")
def retry(task_id: str, principal: Principal = Depends(ui_principal),
          engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    task = find_task(engine, principal, task_id)
    return {"task": _task(engine.retry_task(task.id))}


@api_router.post("/tasks/{task_id}/cancel")
def cancel(task_id: str, principal: Principal = Depends(ui_principal),
           engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    task = find_task(engine, principal, task_id)
    return {"task": _task(engine.cancel_task(task.id))}


__all__ = ["api_router", "page_router"]
