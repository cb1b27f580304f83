"""``memos-integrations mcp``: the MCP server alone, over stdio, for one local client.

The engine is built like ``serve`` builds it (embedded Weaviate on ``MEMOS_DATA_DIR``, or
``WEAVIATE_URL``). Auth for a stdio server is one fixed principal:

* a key (``--api-key`` or ``MEMOS_MCP_API_KEY``) is checked against ``MEMOS_API_KEYS`` exactly as
  the HTTP API checks ``Authorization``, and the server may use what that key may use;
* with ``MEMOS_API_KEYS`` set, a key is required (the process refuses to start without one);
* without ``MEMOS_API_KEYS`` the server is open, like a loopback HTTP server without keys.

The user of calls that name none is ``--user-id`` / ``MEMOS_MCP_USER_ID``, else the key's only user,
else (open server) ``default``.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

from memos_integrations.config import Settings, get_settings
from memos_integrations.errors import AuthenticationError
from memos_integrations.server.auth import Principal, principal_for

API_KEY_ENV = "MEMOS_MCP_API_KEY"
USER_ENV = "MEMOS_MCP_USER_ID"
OPEN_DEFAULT_USER = "default"


def stdio_principal(api_keys: dict[str, dict[str, object]], api_key: str | None) -> Principal:
    """The principal of a stdio server started with ``api_key`` (None: no key given).

    Raises:
        AuthenticationError: keys are configured and the key is missing or unknown.
    """
    if api_keys and not api_key:
        raise AuthenticationError(
            f"missing API key: MEMOS_API_KEYS is set, so give --api-key or {API_KEY_ENV}")
    return principal_for(api_keys, f"Token {api_key}" if api_key else None)


def run_stdio(settings: Settings | None = None, *, api_key: str | None = None, user_id: str | None = None) -> None:
    """Serve MCP over stdin/stdout until the client closes it (blocks)."""
    from memos_integrations.engine import MemoryEngine
    from memos_integrations.mcp.server import build_mcp_server

    settings = settings or get_settings()
    api_key = api_key or os.environ.get(API_KEY_ENV) or None
    principal = stdio_principal(settings.api_keys, api_key)
    user_id = user_id or os.environ.get(USER_ENV) or (OPEN_DEFAULT_USER if principal.open else None)
    # a client that stops us sends SIGTERM: exit through the finally blocks and atexit hooks, so the
    # embedded Weaviate this process started is stopped too (it runs in its own session)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)  # stdout carries the protocol
    engine = MemoryEngine.from_settings(settings)
    try:
        build_mcp_server(engine, principal=principal, default_user_id=user_id).run("stdio")
    finally:
        engine.close()


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


__all__ = ["API_KEY_ENV", "USER_ENV", "run_stdio", "stdio_principal"]
