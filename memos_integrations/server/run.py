"""``memos-integrations serve``: uvicorn over :mod:`memos_integrations.server.app`.

One Weaviate, many workers: in embedded mode the parent process starts (or attaches to) the
embedded Weaviate before uvicorn forks its workers; each worker then finds it listening and
connects instead of starting its own. Without ``MEMOS_API_KEYS`` only loopback hosts are allowed.
"""

from __future__ import annotations

import ipaddress
import logging

from memos_integrations.config import Settings, get_settings
from memos_integrations.errors import ConfigurationError

logger = logging.getLogger("memos_integrations.server")


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, settings: Settings) -> None:
    """Refuse a non-loopback bind without API keys."""
    if not settings.api_keys and not is_loopback(host):
        raise ConfigurationError(
            f"refusing to listen on {host} without API keys: set MEMOS_API_KEYS (e.g. "
            "'{\"my-key\": {\"users\": [\"alice\"], \"cubes\": []}}') or bind 127.0.0.1"
        )


def serve(host: str = "127.0.0.1", port: int = 8001, workers: int = 1, *, settings: Settings | None = None,
          log_level: str = "info") -> None:
    """Run the server (blocks)."""
    import uvicorn

    settings = settings or get_settings()
    check_binding(host, settings)
    if not settings.api_keys:
        logger.warning("no MEMOS_API_KEYS: the API is open on loopback %s:%d only", host, port)
        print(f"memos-integrations: no MEMOS_API_KEYS set; the API is open on loopback only ({host}:{port})")
    server = None
    if settings.embedded:
        from memos_integrations.storage.embedded import ensure_embedded_server

        server = ensure_embedded_server(settings)  # workers attach to this one
        print(f"memos-integrations: Weaviate (embedded) on http://{server.host}:{server.http_port}")
    try:
        if workers > 1:
            uvicorn.run("memos_integrations.server.app:app", host=host, port=port, workers=workers,
                        log_level=log_level)
        else:
            from memos_integrations.server.app import create_app

            uvicorn.run(create_app(settings=settings), host=host, port=port, log_level=log_level)
    finally:
        if server is not None:
            server.stop()
