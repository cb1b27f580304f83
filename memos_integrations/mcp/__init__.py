"""The MCP face: the memory engine as Model Context Protocol tools, resources and a prompt.

* :func:`build_mcp_server` - the server over an engine (``mcp`` SDK's FastMCP);
* :func:`memos_integrations.mcp.http.mount_mcp` - streamable HTTP at ``/mcp`` in the ASGI app;
* :func:`memos_integrations.mcp.stdio.run_stdio` - ``memos-integrations mcp`` over stdio.
"""

from memos_integrations.mcp.server import MemosMCP, build_mcp_server

__all__ = ["MemosMCP", "build_mcp_server"]
