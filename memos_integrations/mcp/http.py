"""The MCP server mounted in the ASGI app (streamable HTTP at ``/mcp``).

Same keys and cube rules as the HTTP API: a request without a valid ``Authorization: Token <key>``
(or ``Bearer <key>``) is answered 401 before any MCP processing (when keys are configured); every
tool, resource and prompt then resolves the key's :class:`~memos_integrations.server.auth.Principal`
from its own request. The transport is stateless (a fresh transport per request, JSON
responses), so it works under several uvicorn workers and keeps no session another key could use.
Without keys the server is open (loopback only, as ``serve`` enforces) and the SDK's DNS-rebinding
protection accepts loopback ``Host`` / ``Origin`` headers only.

Example::

    app = create_app(engine)
    mount_mcp(app)          # create_app already does this; MCP clients connect to http://host:port/mcp
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from memos_integrations.errors import AuthenticationError
from memos_integrations.mcp.server import MemosMCP, build_mcp_server
from memos_integrations.server.auth import Principal, principal_for

LOOPBACK_SECURITY = TransportSecuritySettings(
    enable_dns_rebinding_protection=True,
    allowed_hosts=["127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*"],
    allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
)


class MCPEndpoint:
    """ASGI endpoint: checks the API key, then hands the request to the current session manager."""

    def __init__(self, server: MemosMCP, app: FastAPI) -> None:
        self.server = server
        self.app = app
        self.manager: StreamableHTTPSessionManager | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.app.state.api_keys:
            try:
                principal_for(self.app.state.api_keys, Headers(scope=scope).get("authorization"))
            except AuthenticationError as exc:
                response = JSONResponse({"code": 401, "message": exc.message, "data": None}, status_code=401,
                                        headers={"WWW-Authenticate": 'Bearer realm="memos-integrations"'})
                await response(scope, receive, send)
                return
        if self.manager is None:
            response = JSONResponse({"code": 503, "message": "the MCP server is not running (app start-up or "
                                     "shutdown)", "data": None}, status_code=503)
            await response(scope, receive, send)
            return
        await self.manager.handle_request(scope, receive, send)


def mount_mcp(app: FastAPI, path: str = "/mcp") -> MemosMCP:
    """Serve the MCP face of ``app.state.engine`` at ``path`` (streamable HTTP) and run its
    session manager with the app's lifespan. Returns the MCP server."""

    def principal(request: Request | None) -> Principal:
        header = request.headers.get("authorization") if request is not None else None
        return principal_for(app.state.api_keys, header)

    server = build_mcp_server(lambda: app.state.engine, principal=principal, limits=app.state.limits)
    endpoint = MCPEndpoint(server, app)
    app.router.routes.append(Route(path, endpoint=endpoint, include_in_schema=False))
    app.state.mcp = server
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(asgi_app: Any) -> AsyncIterator[Any]:
        async with inner(asgi_app) as state:
            manager = server.new_session_manager(security=None if app.state.api_keys else LOOPBACK_SECURITY)
            async with manager.run():
                endpoint.manager = manager
                try:
                    yield state
                finally:
                    endpoint.manager = None

    app.router.lifespan_context = lifespan
    return server


__all__ = ["MCPEndpoint", "mount_mcp"]
