"""``memos-integrations serve``: uvicorn over :mod:`memos_integrations.server.app`.

One Weaviate, many workers: in embedded mode the parent process starts (or attaches to) the
embedded Weaviate before uvicorn forks its workers; each worker then finds it listening and
connects instead of starting its own. Without ``MEMOS_API_KEYS`` only loopback hosts are allowed.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import threading
import time

from memos_integrations.config import Settings, get_settings
from memos_integrations.errors import ConfigurationError
from memos_integrations.server.logs import log_config

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


def _exit_quietly(signum: int, frame: object) -> None:
    """SIGTERM after uvicorn's graceful shutdown: return from ``uvicorn.run`` so ``finally`` runs."""


def serve(host: str = "127.0.0.1", port: int = 8001, workers: int = 1, *, settings: Settings | None = None,
          log_level: str | None = None) -> None:
    """Run the server (blocks).

    SIGTERM / SIGINT: uvicorn stops accepting connections and drains in-flight requests for up to
    ``MEMOS_SHUTDOWN_GRACE_SECONDS``, the app hands its running tasks back (see
    :meth:`MemoryEngine.shutdown`), then the embedded Weaviate this process started is stopped.
    With ``--workers N`` the supervisor stops every worker; a worker whose supervisor is gone
    (kill -9) shuts itself down. A killed embedded Weaviate is restarted (same ports and data).
    """
    import uvicorn

    settings = settings or get_settings()
    check_binding(host, settings)
    if not settings.api_keys:
        logger.warning("no MEMOS_API_KEYS: the API is open on loopback %s:%d only", host, port)
        print(f"memos-integrations: no MEMOS_API_KEYS set; the API is open on loopback only ({host}:{port})")
    server = None
    if settings.embedded:
        from memos_integrations.engine import MemoryEngine

        server = MemoryEngine.start_embedded_server(settings)  # workers attach to this one
        server.watch()  # restart it if its process dies
        print(f"memos-integrations: Weaviate (embedded) on http://{server.host}:{server.http_port}")
    # uvicorn re-raises the signal it caught once it has shut down; with a Python handler in place
    # that returns, ``uvicorn.run`` returns and the embedded server is stopped below.
    signal.signal(signal.SIGTERM, _exit_quietly)
    os.environ[SUPERVISOR_ENV] = str(os.getpid())
    grace = max(0, round(settings.shutdown_grace_seconds))
    log_level = log_level or settings.log_level
    logs = log_config(settings)  # structured logs with the request id (server/logs.py)
    try:
        if workers > 1:
            uvicorn.run("memos_integrations.server.app:app", host=host, port=port, workers=workers,
                        log_level=log_level, log_config=logs, timeout_graceful_shutdown=grace)
        else:
            from memos_integrations.server.app import create_app

            uvicorn.run(create_app(settings=settings), host=host, port=port, log_level=log_level,
                        log_config=logs, timeout_graceful_shutdown=grace)
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()
            print("memos-integrations: stopped the embedded Weaviate")


#: Set by :func:`serve` to its pid: a worker whose parent is no longer that process stops itself.
SUPERVISOR_ENV = "MEMOS_SUPERVISOR_PID"


def watch_supervisor(interval: float = 0.5) -> None:
    """In a ``--workers N`` worker: SIGTERM ourselves (graceful shutdown) when the supervisor that
    started us is gone (killed with -9), so no worker keeps serving alone."""
    supervisor = os.environ.get(SUPERVISOR_ENV, "")
    if not supervisor.isdigit() or int(supervisor) == os.getpid() or os.getppid() != int(supervisor):
        return

    def loop() -> None:
        while os.getppid() == int(supervisor):
            time.sleep(interval)
        logger.warning("the server's supervisor (pid %s) is gone; shutting this worker down", supervisor)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=loop, name="memos-supervisor-watch", daemon=True).start()
