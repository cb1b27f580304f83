"""The MCP face: long-term memory for any agent that speaks the Model Context Protocol.

Built on the official ``mcp`` SDK (:class:`mcp.server.fastmcp.FastMCP`). Like every face it only
translates: MCP tool arguments -> engine requests -> typed results. Two ways to run it:

* **streamable HTTP**, mounted in the ASGI app at ``/mcp`` (:func:`memos_integrations.mcp.http.mount_mcp`):
  each request carries ``Authorization: Token <key>`` (or ``Bearer``) and gets the same users and
  cubes as the HTTP API;
* **stdio**, ``memos-integrations mcp`` (:mod:`memos_integrations.mcp.stdio`): one local client,
  one fixed principal (a key given by ``--api-key`` / ``MEMOS_MCP_API_KEY``, or open).

Tools: ``add_memory``, ``search_memory``, ``get_memory``, ``update_memory``, ``delete_memory``,
``list_memories``. Resources: ``memos://cubes/{cube_id}/recent`` (a cube's newest memories) and
``memos://memories/{memory_id}/history`` (a memory's change log). Prompt: ``memory_prompt`` (the
memoryPrompt recalled for a query).

Errors keep the HTTP API's messages: a tool that fails with a
:class:`~memos_integrations.errors.MemosError` answers an MCP tool error (``isError``) whose text is
that message (and ``_meta.status_code`` its HTTP status); resources and prompts answer a JSON-RPC
error with the message. A memory another key owns is "not found", as over HTTP.

Example::

    from memos_integrations.engine import MemoryEngine
    from memos_integrations.mcp import build_mcp_server

    server = build_mcp_server(MemoryEngine.from_settings(), default_user_id="alice")
    server.run("stdio")
"""

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Annotated, Any, Literal, TypeVar

import anyio
from mcp.server.fastmcp import Context, FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import McpError
from mcp.types import INTERNAL_ERROR, INVALID_PARAMS, CallToolResult, ErrorData, GetPromptResult, TextContent
from pydantic import AnyUrl, Field, ValidationError
from starlette.requests import Request

from memos_integrations.domain.models import MemoryRecord, MemoryStatus, MemoryType
from memos_integrations.domain.requests import DEFAULT_SESSION, ChatMessage, MemorizeRequest, RecallOptions
from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import InvalidRequestError, MemosError, NotFoundError, WeaviateUnavailableError
from memos_integrations.mcp.schemas import (
    AddResult,
    ChangeItem,
    DeleteResult,
    MemoryHistory,
    MemoryItem,
    MemoryPage,
    MessageIn,
    SearchResult,
)
from memos_integrations.pipeline.text import parse_when
from memos_integrations.server.auth import ANY, Principal
from memos_integrations.server.limits import ServerLimits, check_messages, check_query

NAME = "memos-integrations"
INSTRUCTIONS = (
    "Long-term memory across conversations. Call search_memory with the user's question before "
    "answering anything that may depend on what you were told earlier (facts about the user, "
    "preferences, plans, past events); call add_memory with what the user tells you that is worth "
    "remembering. Memories live in cubes (memory spaces); by default a user's own cube. "
    "Memories are never silently overwritten: a contradicted memory becomes 'invalid' and links to "
    "the newer one (see a memory's history resource)."
)
logger = logging.getLogger("memos_integrations.mcp")
RESOURCE_NOT_FOUND = -32002  # MCP's code for "resource not found"
LIST_LIMIT = 100
RECENT = 20

T = TypeVar("T")
EngineProvider = Callable[[], MemoryEngine]
#: The caller's principal from the HTTP request of the current MCP message (``None`` over stdio).
PrincipalResolver = Callable[[Request | None], Principal]


def memos_error_of(exc: BaseException) -> MemosError | None:
    """The :class:`MemosError` behind an SDK wrapper exception (its cause or context chain)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, MemosError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class MemosMCP(FastMCP):
    """FastMCP that reports :class:`MemosError` s with the HTTP API's message, unwrapped."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # FastMCP calls logging.basicConfig on construction; leave the host's logging as it was
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        super().__init__(*args, **kwargs)
        root.handlers[:] = handlers
        root.setLevel(level)

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        """Run a tool; a MemosError becomes an MCP tool error carrying its message."""
        try:
            return await super().call_tool(name, arguments)
        except ToolError as exc:
            error = memos_error_of(exc)
            if error is None and isinstance(exc.__cause__, ValidationError | ValueError | TypeError):
                raise  # bad arguments: the SDK's message names them (the model can fix its call)
            if error is None:  # a crash: as over HTTP, a short message here and the traceback in the log
                logger.error("MCP tool %s crashed", name, exc_info=exc.__cause__ or exc)
                error = MemosError(f"internal error ({type(exc.__cause__ or exc).__name__}); see the server log")
            return CallToolResult(content=[TextContent(type="text", text=error.message)], isError=True,
                                  _meta={"status_code": error.status_code})

    async def read_resource(self, uri: AnyUrl | str) -> Iterable[ReadResourceContents]:
        """Read a resource; a MemosError becomes a JSON-RPC error carrying its message."""
        try:
            return await super().read_resource(uri)
        except Exception as exc:
            error = memos_error_of(exc)
            if error is None:
                raise
            code = RESOURCE_NOT_FOUND if isinstance(error, NotFoundError) else (
                INVALID_PARAMS if error.status_code < 500 else INTERNAL_ERROR)
            raise McpError(ErrorData(code=code, message=error.message)) from exc

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None) -> GetPromptResult:
        """Render a prompt; a MemosError becomes a JSON-RPC error carrying its message."""
        try:
            return await super().get_prompt(name, arguments)
        except Exception as exc:
            error = memos_error_of(exc)
            if error is None:
                raise
            code = INVALID_PARAMS if error.status_code < 500 else INTERNAL_ERROR
            raise McpError(ErrorData(code=code, message=error.message)) from exc

    def new_session_manager(self, *, security: TransportSecuritySettings | None = None) -> StreamableHTTPSessionManager:
        """A fresh stateless streamable-HTTP session manager for this server (one per app start).

        Stateless (a new transport per request, JSON responses): nothing is kept between requests,
        so any worker of a multi-worker server can answer any request, and no session can be
        borrowed by another key.
        """
        return StreamableHTTPSessionManager(app=self._mcp_server, stateless=True, json_response=True,
                                            security_settings=security)


def _valid_id(memory_id: str) -> bool:
    try:
        uuid.UUID(str(memory_id))
    except ValueError:
        return False
    return True


def _single_user(principal: Principal) -> str | None:
    users = [u for u in principal.users if u != ANY]
    return users[0] if len(users) == 1 and ANY not in principal.users else None


def build_mcp_server(
    engine: MemoryEngine | EngineProvider,
    *,
    principal: Principal | PrincipalResolver | None = None,
    default_user_id: str | None = None,
    limits: ServerLimits | None = None,
    name: str = NAME,
) -> MemosMCP:
    """The MCP server over ``engine``.

    Args:
        engine: the engine, or a callable returning it at call time (the ASGI app builds its
            engine at start-up).
        principal: what the caller may use: a fixed :class:`Principal` (stdio), a resolver from the
            HTTP request (the mounted app), or ``None`` for an open server.
        default_user_id: the user of calls that name none (else the key's only user).
        limits: message and query limits (default: the environment's, as the HTTP API).
        name: the server name clients show.
    """
    limits = limits or ServerLimits()
    server = MemosMCP(name, instructions=INSTRUCTIONS, log_level="WARNING")

    def get_engine() -> MemoryEngine:
        current = engine() if callable(engine) and not isinstance(engine, MemoryEngine) else engine
        if current is None:
            raise WeaviateUnavailableError("the memory engine is not ready (Weaviate is starting or unreachable)")
        return current

    def caller(ctx: Context) -> Principal:
        if principal is None:
            return Principal(open=True)
        if isinstance(principal, Principal):
            return principal
        request = ctx.request_context.request
        return principal(request if isinstance(request, Request) else None)

    def user_for(who: Principal, user_id: str | None) -> str:
        user = user_id or default_user_id or _single_user(who)
        if not user:
            raise InvalidRequestError("user_id is required: the user whose memories these are")
        who.check_user(user)
        return user

    async def run(fn: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(fn)

    def visible(who: Principal, record: MemoryRecord | None, memory_id: str) -> MemoryRecord:
        if record is None or not who.may_use_cube(record.cube_id):
            raise NotFoundError(f"Memory with ID {memory_id} not found")
        return record

    def recall_options(**given: Any) -> RecallOptions:
        try:
            return RecallOptions(**{k: v for k, v in given.items() if v is not None})
        except ValueError as exc:
            raise InvalidRequestError(f"invalid recall request: {exc}") from exc

    async def recall(ctx: Context, query: str, user_id: str | None, cube_ids: Sequence[str] | None,
                     **options: Any) -> SearchResult:
        who = caller(ctx)
        check_query(query, limits)
        user = user_for(who, user_id)
        readable = list(dict.fromkeys(cube_ids or [user]))
        who.check_cubes(readable)
        request = recall_options(**options).to_request(query, user_id=user, cube_ids=readable)
        result = await get_engine().arecall(request)
        return SearchResult.of(result)

    # ------------------------------------------------------------------------------------------
    # tools

    @server.tool(title="Remember")
    async def add_memory(
        ctx: Context,
        text: Annotated[str | None, Field(description="Something to remember, as plain text (said by the user).")] = None,
        messages: Annotated[list[MessageIn] | None, Field(
            description="Or a conversation to remember: [{role, content}, ...].")] = None,
        user_id: Annotated[str | None, Field(description="Whose memory; default: the caller's user.")] = None,
        cube_id: Annotated[str | None, Field(description="The cube to store in; default: the user's own.")] = None,
        session_id: Annotated[str | None, Field(description="The conversation these messages belong to.")] = None,
        mode: Annotated[Literal["auto", "fast", "fine"], Field(
            description="fast: store the messages as they are (no LLM); fine: an LLM extracts facts, "
                        "preferences and skills and reconciles them with what is stored; auto: fine when "
                        "the server has a chat model.")] = "auto",
        tags: Annotated[list[str] | None, Field(description="Tags stored with every memory.")] = None,
        info: Annotated[dict[str, Any] | None, Field(description="Metadata stored with every memory.")] = None,
        wait: Annotated[bool, Field(
            description="true: return when stored (searchable at once); false: queue a background task.")] = True,
    ) -> AddResult:
        """Remember something for later conversations: a fact, a preference, an event, a whole
        exchange. Give `text` or `messages`. Returns the stored memories (their ids)."""
        who = caller(ctx)
        chat: list[ChatMessage] = [ChatMessage(role=m.role, content=m.content, chat_time=m.chat_time,
                                               character=m.character) for m in messages or []]
        if text and text.strip():
            chat.append(ChatMessage(role="user", content=text.strip()))
        if not chat:
            raise InvalidRequestError("nothing to remember: give text or messages")
        check_messages(len(chat), limits)
        user = user_for(who, user_id)
        cube = cube_id or user
        who.check_cubes([cube])
        request = MemorizeRequest(user_id=user, messages=chat, cube_ids=[cube], session_id=session_id or DEFAULT_SESSION,
                                  info=info or {}, tags=tags or [], mode=mode)
        result = await get_engine().amemorize(request, sync=wait)
        stored = len(result.memories)
        message = (f"Stored {stored} memories" if wait or result.task_id is None
                   else f"Queued task {result.task_id}")
        return AddResult(message=message, status=result.status, mode=result.mode, task_id=result.task_id,
                         memories=[MemoryItem.of(r) for r in result.memories])

    @server.tool(title="Recall")
    async def search_memory(
        ctx: Context,
        query: Annotated[str, Field(description="What to recall, in natural language (time words such as "
                                                "'last week' or '昨晚' narrow the time).")],
        user_id: Annotated[str | None, Field(description="Whose memories; default: the caller's user.")] = None,
        cube_ids: Annotated[list[str] | None, Field(description="Cubes to read; default: the user's own.")] = None,
        top_k: Annotated[int | None, Field(ge=0, le=25, description="At most this many facts (default 9).")] = None,
        relativity: Annotated[float | None, Field(
            ge=0.0, le=1.0, description="Minimum relevance in [0, 1] (default 0.45; 0 returns everything).")] = None,
        memory_types: Annotated[list[MemoryType] | None, Field(description="Only these memory types.")] = None,
        filter: Annotated[dict[str, Any] | None, Field(
            description="MemOS filter DSL: {field: value}, {field: {op: value}}, {\"and\"|\"or\": [...]}; ops eq, "
                        "ne, gt, gte, lt, lte, in, nin, contains; fields tags, session_id, memory_type, key, "
                        "created_at, happened_at (when it was said), info.<key>. E.g. {\"and\": [{\"tags\": "
                        "{\"contains\": \"travel\"}}, {\"happened_at\": {\"gte\": \"2025-01-01\"}}]}.")] = None,
        reference_time: Annotated[str | None, Field(
            description="'Now' for time words in the query, ISO 8601 (default: the current time).")] = None,
        session_id: Annotated[str | None, Field(
            description="The current conversation: its memories get a boost.")] = None,
        mode: Annotated[Literal["fast", "fine", "mixture"] | None, Field(
            description="fast (default, no LLM), fine (an LLM rewrites the query) or mixture.")] = None,
    ) -> SearchResult:
        """Recall what is remembered about a question: the most relevant memories (facts,
        preferences, tool memories, skills) and `memory_prompt`, a ready block of text to use as
        context before answering."""
        when = None
        if reference_time:
            when = parse_when(reference_time)
            if when is None:
                raise InvalidRequestError(
                    f"reference_time {reference_time!r} is not a date/time; use ISO 8601, e.g. 2025-06-01T12:00:00Z")
        return await recall(ctx, query, user_id, cube_ids, top_k=top_k, relativity=relativity,
                            memory_types=memory_types, filter=filter, reference_time=when, session_id=session_id,
                            mode=mode)

    @server.tool(title="Get a memory")
    async def get_memory(
        ctx: Context,
        memory_id: Annotated[str, Field(description="The memory id.")],
    ) -> MemoryItem:
        """One memory by its id (from search_memory, list_memories or add_memory)."""
        who = caller(ctx)
        record = await run(lambda: get_engine().get_memory(memory_id) if _valid_id(memory_id) else None)
        return MemoryItem.of(visible(who, record, memory_id))

    @server.tool(title="Edit a memory")
    async def update_memory(
        ctx: Context,
        memory_id: Annotated[str, Field(description="The memory id.")],
        memory: Annotated[str | None, Field(description="The corrected text.")] = None,
        status: Annotated[Literal["activated", "invalid", "archived"] | None, Field(
            description="activated (in use), invalid (no longer true) or archived (kept, not recalled).")] = None,
        tags: Annotated[list[str] | None, Field(description="The new tags (replace the old ones).")] = None,
        reason: Annotated[str | None, Field(description="Why, for the memory's history.")] = None,
    ) -> MemoryItem:
        """Correct a memory's text, change its status or its tags. The edit is recorded in the
        memory's history (resource memos://memories/{memory_id}/history)."""
        who = caller(ctx)
        current = get_engine()
        record = visible(who, await run(lambda: current.get_memory(memory_id) if _valid_id(memory_id) else None),
                         memory_id)
        updated = await run(lambda: current.update_memory(
            memory_id, [record.cube_id], memory=memory, status=MemoryStatus(status) if status else None,
            tags=tags, reason=reason or ""))
        return MemoryItem.of(updated)

    @server.tool(title="Forget")
    async def delete_memory(
        ctx: Context,
        memory_ids: Annotated[list[str], Field(min_length=1, description="Ids of the memories to delete.")],
    ) -> DeleteResult:
        """Delete memories for good (to mark a memory as no longer true, prefer update_memory with
        status 'invalid': it keeps the history)."""
        who = caller(ctx)
        current = get_engine()
        wanted = list(dict.fromkeys(m for m in memory_ids if _valid_id(m)))
        found = await run(lambda: current.get_memories(wanted)) if wanted else []
        allowed = [r for r in found if who.may_use_cube(r.cube_id)]
        cubes = sorted({r.cube_id for r in allowed})
        ids = [r.id for r in allowed]
        deleted = await run(lambda: current.delete_memories(ids, cubes)) if ids else 0
        not_found = [m for m in dict.fromkeys(memory_ids) if m not in set(ids)]
        return DeleteResult(message=f"Deleted {deleted} memories", deleted=deleted, not_found=not_found)

    @server.tool(title="List memories")
    async def list_memories(
        ctx: Context,
        cube_id: Annotated[str | None, Field(description="The cube; default: the user's own.")] = None,
        user_id: Annotated[str | None, Field(
            description="Only this user's memories; default: the caller's user's own cube, every author.")] = None,
        memory_types: Annotated[list[MemoryType] | None, Field(description="Only these memory types.")] = None,
        status: Annotated[Literal["activated", "invalid", "archived", "all"], Field(
            description="Which memories: activated (default), invalid, archived or all.")] = "activated",
        filter: Annotated[dict[str, Any] | None, Field(description="MemOS filter (see search_memory).")] = None,
        offset: Annotated[int, Field(ge=0, le=10_000, description="Skip this many (paging).")] = 0,
        limit: Annotated[int, Field(ge=1, le=LIST_LIMIT, description="At most this many.")] = 20,
    ) -> MemoryPage:
        """Browse a cube's memories, newest first, with their total count."""
        who = caller(ctx)
        cube = cube_id or user_for(who, user_id)
        who.check_cubes([cube])
        if user_id:
            who.check_user(user_id)
        statuses = None if status == "all" else [MemoryStatus(status)]
        current = get_engine()
        limit = min(limit, 10_000 - offset) if offset < 10_000 else 0
        records = await run(lambda: current.list_memories(
            cube, filter=filter, user_id=user_id, memory_types=memory_types, statuses=statuses, offset=offset,
            limit=limit)) if limit else []
        total = await run(lambda: current.count_memories(cube, filter=filter, user_id=user_id,
                                                         memory_types=memory_types, statuses=statuses))
        return MemoryPage(cube_id=cube, total=total, offset=offset, memories=[MemoryItem.of(r) for r in records])

    # ------------------------------------------------------------------------------------------
    # resources

    @server.resource("memos://cubes/{cube_id}/recent", name="recent_memories", title="Recent memories",
                     mime_type="application/json")
    async def recent_memories(cube_id: str, ctx: Context) -> str:
        """The newest memories of a cube (at most 20), as JSON."""
        who = caller(ctx)
        who.check_cubes([cube_id])
        current = get_engine()
        records = await run(lambda: current.list_memories(cube_id, limit=RECENT))
        total = await run(lambda: current.count_memories(cube_id))
        page = MemoryPage(cube_id=cube_id, total=total, offset=0, memories=[MemoryItem.of(r) for r in records])
        return page.model_dump_json(indent=2)

    @server.resource("memos://memories/{memory_id}/history", name="memory_history", title="Memory history",
                     mime_type="application/json")
    async def memory_history(memory_id: str, ctx: Context) -> str:
        """A memory's history: its change log (conflicts, archiving, manual edits) and the chain of
        newer memories that replaced it, as JSON."""
        who = caller(ctx)
        current = get_engine()
        record = visible(who, await run(lambda: current.get_memory(memory_id) if _valid_id(memory_id) else None),
                         memory_id)
        chain: list[MemoryItem] = []
        seen = {record.id}
        newer = record.superseded_by
        while newer and newer not in seen and len(chain) < 10:
            seen.add(newer)
            nxt = await run(partial(current.get_memory, newer))
            if nxt is None or not who.may_use_cube(nxt.cube_id):
                break
            chain.append(MemoryItem.of(nxt))
            newer = nxt.superseded_by
        history = MemoryHistory(memory=MemoryItem.of(record), superseded_by=chain,
                                change_log=[ChangeItem(**e.model_dump()) for e in record.change_log])
        return history.model_dump_json(indent=2)

    # ------------------------------------------------------------------------------------------
    # prompts

    @server.prompt(name="memory_prompt", title="Memory prompt")
    async def memory_prompt(query: str, ctx: Context, user_id: str | None = None,
                            cube_ids: str | None = None) -> str:
        """The memoryPrompt for a query: what is remembered about it, ready to put before the
        question (cube_ids: comma-separated; default the user's own cube)."""
        cubes = [c.strip() for c in cube_ids.split(",") if c.strip()] if cube_ids else None
        result = await recall(ctx, query, user_id, cubes)
        return result.memory_prompt

    return server


__all__ = ["MemosMCP", "build_mcp_server", "memos_error_of"]
