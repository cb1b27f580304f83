"""The MCP face over stdio: ``memos-integrations mcp`` spawned by the ``mcp`` SDK's own client,
on its own embedded Weaviate (temp data dir, free ports, the cached server binary) and the default
embedding model."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import McpError
from mcp.types import CallToolResult, TextContent

CLI = str(Path(sys.executable).with_name("memos-integrations"))
KEYS = {"key-carol": {"users": ["carol"], "cubes": ["team_kb"]}, "key-dave": {"users": ["dave"]}}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def stdio_env() -> Iterator[dict[str, str]]:
    """Environment of the spawned servers: one temp data dir and port pair for the module."""
    data_dir = tempfile.mkdtemp(prefix="memos-mcp-stdio-")
    env = {**os.environ, "MEMOS_DATA_DIR": data_dir, "MEMOS_EMBEDDED_HTTP_PORT": str(_free_port()),
           "MEMOS_EMBEDDED_GRPC_PORT": str(_free_port()), "MEMOS_API_KEYS": json.dumps(KEYS)}
    for name in ("WEAVIATE_URL", "CHAT_MODEL_LIST", "MEMOS_MCP_API_KEY", "MEMOS_MCP_USER_ID"):
        env.pop(name, None)
    yield env
    shutil.rmtree(data_dir, ignore_errors=True)


@asynccontextmanager
async def stdio_session(env: dict[str, str], *args: str) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=CLI, args=["mcp", *args], env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def text_of(result: CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, TextContent))


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.isError, text_of(result)
    assert result.structuredContent is not None
    return result.structuredContent


def _wait_closed(port: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _listening(port):
            return True
        time.sleep(0.2)
    return False


async def test_stdio_with_a_key_every_tool_resource_and_prompt(stdio_env) -> None:  # type: ignore[no-untyped-def]
    async with stdio_session(stdio_env, "--api-key", "key-carol") as session:
        assert {t.name for t in (await session.list_tools()).tools} == {
            "add_memory", "search_memory", "get_memory", "update_memory", "delete_memory", "list_memories"}
        added = await call(session, "add_memory", messages=[
            {"role": "user", "content": "I adopted a grey cat named Miso last week."},
            {"role": "assistant", "content": "Congratulations on adopting Miso!"}], mode="fast")
        assert added["memories"] and all(m["cube_id"] == "carol" for m in added["memories"])
        memory_id = added["memories"][0]["id"]
        shared = await call(session, "add_memory", text="The team kb says deploys happen on Tuesdays",
                            cube_id="team_kb", mode="fast")
        assert shared["memories"][0]["cube_id"] == "team_kb"

        found = await call(session, "search_memory", query="What is my cat called?")
        assert any("Miso" in m["memory"] for m in found["memories"]), found
        assert "Miso" in found["memory_prompt"]
        kb = await call(session, "search_memory", query="When do deploys happen?", cube_ids=["team_kb"])
        assert any("Tuesdays" in m["memory"] for m in kb["memories"]), kb

        assert "Miso" in (await call(session, "get_memory", memory_id=memory_id))["memory"]
        await call(session, "update_memory", memory_id=memory_id, status="invalid", reason="the cat was renamed")
        history = json.loads((await session.read_resource(f"memos://memories/{memory_id}/history"))
                             .contents[0].text)  # type: ignore[union-attr]
        assert history["memory"]["status"] == "invalid"
        assert history["change_log"][-1]["reason"] == "the cat was renamed"
        recent = json.loads((await session.read_resource("memos://cubes/carol/recent"))
                            .contents[0].text)  # type: ignore[union-attr]
        assert recent["memories"] and all(m["cube_id"] == "carol" for m in recent["memories"])
        page = await call(session, "list_memories", status="all")
        assert memory_id in {m["id"] for m in page["memories"]}

        prompt = await session.get_prompt("memory_prompt", {"query": "When do deploys happen?",
                                                             "cube_ids": "team_kb"})
        assert "Tuesdays" in prompt.messages[0].content.text  # type: ignore[union-attr]

        # the key's rules hold over stdio too, with the HTTP API's messages
        denied = await session.call_tool("search_memory", {"query": "cat", "user_id": "dave"})
        assert denied.isError and text_of(denied) == "this API key may not act as user 'dave'"
        with pytest.raises(McpError, match="this API key may not use cube 'dave'"):
            await session.read_resource("memos://cubes/dave/recent")
        deleted = await call(session, "delete_memory", memory_ids=[memory_id])
        assert deleted["deleted"] == 1
        gone = await session.call_tool("get_memory", {"memory_id": memory_id})
        assert gone.isError and text_of(gone) == f"Memory with ID {memory_id} not found"
    # the server stopped the embedded Weaviate it started when the client closed it
    assert _wait_closed(int(stdio_env["MEMOS_EMBEDDED_HTTP_PORT"]))


async def test_stdio_without_keys_is_open_with_a_default_user(stdio_env) -> None:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in stdio_env.items() if k != "MEMOS_API_KEYS"}
    async with stdio_session(env) as session:
        added = await call(session, "add_memory", text="My desk plant is a small cactus", mode="fast")
        assert added["memories"][0]["user_id"] == "default"
        found = await call(session, "search_memory", query="What plant is on my desk?")
        assert any("cactus" in m["memory"] for m in found["memories"]), found
        # open: any user and cube, e.g. what the keyed session stored for carol
        kb = await call(session, "search_memory", query="deploys", user_id="carol", cube_ids=["team_kb"])
        assert any("Tuesdays" in m["memory"] for m in kb["memories"]), kb
    assert _wait_closed(int(stdio_env["MEMOS_EMBEDDED_HTTP_PORT"]))


def test_stdio_refuses_to_start_without_a_key_when_keys_are_configured(stdio_env) -> None:  # type: ignore[no-untyped-def]
    done = subprocess.run([CLI, "mcp"], check=False, env=stdio_env, input="", capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "missing API key: MEMOS_API_KEYS is set, so give --api-key or MEMOS_MCP_API_KEY" in done.stderr
    wrong = subprocess.run([CLI, "mcp", "--api-key", "nope"], check=False, env=stdio_env, input="",
                           capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and "invalid API key" in wrong.stderr
