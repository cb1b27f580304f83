"""The MCP face over streamable HTTP (``/mcp`` of the app on a real port, the session Weaviate),
through the ``mcp`` SDK's own client: every tool, both resources, the prompt, errors with the HTTP
API's messages, and key isolation."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client
from mcp.shared.exceptions import McpError
from mcp.types import CallToolResult, TextContent


@asynccontextmanager
async def mcp_session(url: str, key: str | None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Token {key}"} if key else None
    async with (
        create_mcp_http_client(headers=headers) as client,
        streamable_http_client(f"{url}/mcp", http_client=client) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def text_of(result: CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, TextContent))


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool that must succeed; its structured result."""
    result = await session.call_tool(tool, arguments)
    assert not result.isError, text_of(result)
    assert result.structuredContent is not None
    return result.structuredContent


async def fails(session: ClientSession, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail; the error text (the HTTP status is in ``_meta``)."""
    result = await session.call_tool(tool, arguments)
    assert result.isError, result
    assert result.meta and result.meta["status_code"] in (400, 403, 404, 413), result.meta
    return text_of(result)


async def test_tools_resources_and_prompt_are_listed_with_schemas(server_env) -> None:  # type: ignore[no-untyped-def]
    async with mcp_session(server_env.url, "key-alice") as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert set(tools) == {"add_memory", "search_memory", "get_memory", "update_memory", "delete_memory",
                              "list_memories"}
        search = tools["search_memory"]
        assert search.description and "memory_prompt" in search.description
        assert search.inputSchema["required"] == ["query"]
        assert {"query", "top_k", "filter", "reference_time", "cube_ids"} <= set(search.inputSchema["properties"])
        assert "memory_prompt" in (search.outputSchema or {})["properties"]
        assert {"text", "messages", "mode", "cube_id"} <= set(tools["add_memory"].inputSchema["properties"])
        templates = {t.uriTemplate for t in (await session.list_resource_templates()).resourceTemplates}
        assert templates == {"memos://cubes/{cube_id}/recent", "memos://memories/{memory_id}/history"}
        prompts = {p.name: p for p in (await session.list_prompts()).prompts}
        assert [a.name for a in prompts["memory_prompt"].arguments or [] if a.required] == ["query"]


async def test_add_search_get_update_list_delete_round_trip(server_env) -> None:  # type: ignore[no-untyped-def]
    alice = server_env.alice
    own = f"{alice}__rt_{uuid.uuid4().hex[:8]}"  # one of alice's cubes, for this test alone (others write to alice)
    async with mcp_session(server_env.url, "key-alice") as session:
        added = await call(session, "add_memory", text="I moved from Beijing to Lisbon last spring",
                           mode="fast", tags=["travel"], session_id="s1", cube_id=own)
        assert added["status"] == "completed" and added["memories"], added
        memory_id = added["memories"][0]["id"]
        assert added["memories"][0]["cube_id"] == own
        await call(session, "add_memory", messages=[
            {"role": "user", "content": "My favourite drink is green tea"},
            {"role": "assistant", "content": "Noted, green tea it is."}], mode="fast", cube_id=own)

        found = await call(session, "search_memory", query="Where do I live now? Lisbon", relativity=0.0,
                           cube_ids=[own])
        assert any("Lisbon" in m["memory"] for m in found["memories"]), found
        assert "Lisbon" in found["memory_prompt"]

        tagged = await call(session, "search_memory", query="Where do I live now? Lisbon green tea", relativity=0.0,
                            filter={"tags": {"contains": "travel"}}, cube_ids=[own])
        assert tagged["memories"] and all("travel" in m["tags"] for m in tagged["memories"])
        assert "filter" in await fails(session, "search_memory", query="x", filter={"nope": 1})

        got = await call(session, "get_memory", memory_id=memory_id)
        assert "I moved from Beijing to Lisbon" in got["memory"] and "travel" in got["tags"]

        updated = await call(session, "update_memory", memory_id=memory_id,
                             memory="I moved from Beijing to Porto last spring", reason="user corrected the city")
        assert updated["memory"] == "I moved from Beijing to Porto last spring"
        again = await call(session, "search_memory", query="Porto", relativity=0.0, cube_ids=[own])
        assert any(m["id"] == memory_id and "Porto" in m["memory"] for m in again["memories"]), again

        archived = await call(session, "update_memory", memory_id=memory_id, status="archived")
        assert archived["status"] == "archived"
        history = await session.read_resource(f"memos://memories/{memory_id}/history")
        body = json.loads(history.contents[0].text)  # type: ignore[union-attr]
        assert [(c["status_before"], c["status_after"]) for c in body["change_log"]] == [
            ("activated", "activated"), ("activated", "archived")]
        assert body["change_log"][0]["reason"] == "user corrected the city"

        page = await call(session, "list_memories", limit=10, cube_id=own)
        assert page["cube_id"] == own and page["total"] == len(page["memories"]) >= 2
        assert memory_id not in {m["id"] for m in page["memories"]}  # archived: not activated
        every = await call(session, "list_memories", status="all", limit=10, cube_id=own)
        assert memory_id in {m["id"] for m in every["memories"]}

        recent = await session.read_resource(f"memos://cubes/{own}/recent")
        recent_body = json.loads(recent.contents[0].text)  # type: ignore[union-attr]
        assert any("green tea" in m["memory"] for m in recent_body["memories"])

        prompt = await session.get_prompt("memory_prompt", {"query": "What is my favourite drink? green tea", "cube_ids": own})
        prompt_text = prompt.messages[0].content.text  # type: ignore[union-attr]
        assert "green tea" in prompt_text

        queued = await call(session, "add_memory", text="I play chess on Sundays", mode="fast", wait=False)
        assert queued["task_id"] and queued["message"] == f"Queued task {queued['task_id']}"
        fresh = f"{alice}__mcp_{uuid.uuid4().hex[:8]}"  # one of alice's own cubes, nothing stored in it yet
        empty = await call(session, "list_memories", cube_id=fresh)
        assert empty == {"cube_id": fresh, "total": 0, "offset": 0, "memories": []}

        deleted = await call(session, "delete_memory", memory_ids=[memory_id, "not-a-uuid"])
        assert deleted["deleted"] == 1 and deleted["not_found"] == ["not-a-uuid"]
        assert await fails(session, "get_memory", memory_id=memory_id) == f"Memory with ID {memory_id} not found"


async def test_errors_keep_the_http_api_messages(server_env) -> None:  # type: ignore[no-untyped-def]
    bob = server_env.bob
    async with mcp_session(server_env.url, "key-alice") as session:
        assert await fails(session, "search_memory", query="x", user_id=bob) == \
            f"this API key may not act as user '{bob}'"
        assert await fails(session, "search_memory", query="x", cube_ids=[bob]) == \
            f"this API key may not use cube '{bob}'"
        assert await fails(session, "add_memory") == "nothing to remember: give text or messages"
        assert await fails(session, "search_memory", query="x", reference_time="whenever") == (
            "reference_time 'whenever' is not a date/time; use ISO 8601, e.g. 2025-06-01T12:00:00Z")
        with pytest.raises(McpError, match=f"this API key may not use cube '{bob}'"):
            await session.read_resource(f"memos://cubes/{bob}/recent")
    async with mcp_session(server_env.url, "key-admin") as admin:  # several users: no default user
        assert await fails(admin, "search_memory", query="x") == \
            "user_id is required: the user whose memories these are"


async def test_missing_or_wrong_key_is_401(server_env) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=server_env.url) as http:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        accept = {"Accept": "application/json, text/event-stream"}
        missing = await http.post("/mcp", json=body, headers=accept)
        assert missing.status_code == 401 and missing.json()["message"].startswith("missing API key")
        wrong = await http.post("/mcp", json=body, headers={**accept, "Authorization": "Token nope"})
        assert wrong.status_code == 401 and wrong.json()["message"] == "invalid API key"


async def test_one_key_sees_nothing_of_another(server_env) -> None:  # type: ignore[no-untyped-def]
    bob = server_env.bob
    async with mcp_session(server_env.url, "key-bob") as session:
        added = await call(session, "add_memory", text="My locker code is 4711, keep it secret", mode="fast")
        secret = added["memories"][0]["id"]
    async with mcp_session(server_env.url, "key-alice") as session:
        not_found = f"Memory with ID {secret} not found"
        assert await fails(session, "get_memory", memory_id=secret) == not_found
        assert await fails(session, "update_memory", memory_id=secret, memory="hacked") == not_found
        deleted = await call(session, "delete_memory", memory_ids=[secret])
        assert deleted["deleted"] == 0 and deleted["not_found"] == [secret]
        with pytest.raises(McpError, match=not_found):
            await session.read_resource(f"memos://memories/{secret}/history")
        assert "this API key may not use cube" in await fails(session, "list_memories", cube_id=bob)
        assert "this API key may not use cube" in await fails(session, "add_memory", text="x", cube_id=bob)
        mine = await call(session, "search_memory", query="locker code 4711", relativity=0.0)
        assert all("4711" not in m["memory"] for m in mine["memories"]) and "4711" not in mine["memory_prompt"]
        with pytest.raises(McpError, match="may not act as user"):
            await session.get_prompt("memory_prompt", {"query": "locker code", "user_id": bob})
    async with mcp_session(server_env.url, "key-bob") as session:  # still there for its owner
        assert (await call(session, "get_memory", memory_id=secret))["user_id"] == bob
