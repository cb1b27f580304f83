"""Who may open the memory inspector (``/ui``) and what it shows them.

The same keys as the rest of the server (``MEMOS_API_KEYS``, :mod:`memos_integrations.server.auth`):

* A key arrives as ``Authorization: Token <key>`` (or ``Bearer``), or - for the browser - as the
  ``memos_ui_key`` cookie set by ``POST /ui/login`` (HttpOnly, ``SameSite=Strict``, path ``/ui``).
* The key decides which users and cubes are listed and readable: exactly the cubes the HTTP API
  would let it use (its users' own cubes, granted cubes, its account's created cubes).
* Changes (``PATCH`` / ``POST`` / ``DELETE`` under ``/ui/api``) made with the cookie, or on an open
  server, must carry ``X-Memos-UI: 1``: a header another site cannot send without a CORS preflight
  this server never grants (no cross-site request forgery).
* No keys configured (an open, loopback-only server): the inspector is off unless
  ``MEMOS_UI_ENABLED=true``; when on, only loopback ``Host`` headers are served (no DNS rebinding).
  ``MEMOS_UI_ENABLED=false`` turns it off with keys too.
"""

from __future__ import annotations

from fastapi import Request

from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import NotFoundError, PermissionDeniedError
from memos_integrations.server.auth import Principal, principal_for
from memos_integrations.server.cubes import owner_of
from memos_integrations.server.routers.product import check_cubes, may_read_cube

COOKIE = "memos_ui_key"
CSRF_HEADER = "x-memos-ui"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
#: What a user without an owner is listed as (common-sense / knowledge-base cubes).
SHARED = "(shared)"


def ui_enabled(request: Request) -> bool:
    """On with keys (unless ``MEMOS_UI_ENABLED=false``); on an open server only when enabled."""
    setting = getattr(request.app.state.settings, "ui_enabled", None)
    if setting is not None:
        return bool(setting)
    return bool(request.app.state.api_keys)


def _host_name(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def require_ui(request: Request) -> None:
    """FastAPI dependency of every ``/ui`` route: 404 when the inspector is off; on an open server
    403 for a non-loopback ``Host`` (a DNS-rebinding page must not read the memories)."""
    if not ui_enabled(request):
        raise NotFoundError("the memory inspector (/ui) is off: it needs MEMOS_API_KEYS, or "
                            "MEMOS_UI_ENABLED=true on a loopback server without keys")
    if not request.app.state.api_keys and _host_name(request.headers.get("host", "")) not in LOOPBACK_HOSTS:
        raise PermissionDeniedError("the memory inspector of a server without API keys answers loopback hosts only")


def credentials(request: Request) -> tuple[str | None, bool]:
    """(the Authorization header to check, whether it came from the inspector's cookie)."""
    header = request.headers.get("authorization")
    if header:
        return header, False
    cookie = request.cookies.get(COOKIE)
    if cookie:
        return f"Token {cookie}", True
    return None, False


def ui_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller's :class:`Principal` (401 without a valid key when keys are
    configured; 403 for a cookie- or open-server change without ``X-Memos-UI: 1``)."""
    require_ui(request)
    header, from_cookie = credentials(request)
    principal = principal_for(request.app.state.api_keys, header)
    if (request.method not in SAFE_METHODS and (from_cookie or principal.open)
            and request.headers.get(CSRF_HEADER) != "1"):
        raise PermissionDeniedError("changes through the memory inspector need the header 'X-Memos-UI: 1'")
    return principal


def visible_cubes(engine: MemoryEngine, principal: Principal) -> list[str]:
    """The cubes the key may read: those holding memories that it may use, plus its users' own
    cubes and its granted cubes (listed even while empty)."""
    cubes = {c for c in engine.list_cubes() if may_read_cube(engine, principal, c)}
    if not principal.unrestricted:
        cubes |= {c for c in principal.users | principal.cubes if may_read_cube(engine, principal, c)}
    return sorted(cubes)


def users_of(cube_ids: list[str]) -> dict[str, list[str]]:
    """Cubes grouped by the user that owns them (:func:`owner_of`), users sorted."""
    grouped: dict[str, list[str]] = {}
    for cube_id in cube_ids:
        grouped.setdefault(owner_of(cube_id) or SHARED, []).append(cube_id)
    return dict(sorted(grouped.items()))


def check_readable(engine: MemoryEngine, principal: Principal, cube_id: str) -> None:
    """403 unless the key may read ``cube_id`` (the HTTP API's rule, account-owned cubes included)."""
    check_cubes(engine, principal, [cube_id])


__all__ = ["COOKIE", "CSRF_HEADER", "check_readable", "credentials", "require_ui", "ui_enabled",
           "ui_principal", "users_of", "visible_cubes"]
