"""API keys: ``Authorization: Token <key>`` (or ``Bearer <key>``).

Keys come from ``MEMOS_API_KEYS``, a JSON object mapping each key to what it may use::

    MEMOS_API_KEYS='{"k1": {"users": ["alice"], "cubes": ["public_kb"], "account": "acme"}, "admin": {"users": ["*"]}}'

``account`` (optional) names who owns what the key creates (see :attr:`Principal.account`).

A user comes with its own cubes (the cube whose id is the user id, and the user's MemnetAI
namespaces ``<user>__<namespace>``). ``"*"`` in ``users`` or ``cubes`` allows everything.
A wrong or missing key is 401; a user or cube the key may not use is 403. With no keys
configured the server is open (and :func:`memos_integrations.server.run.serve` only binds to
loopback).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field

from fastapi import Request

from memos_integrations.errors import AuthenticationError, PermissionDeniedError
from memos_integrations.server.cubes import owner_of

ANY = "*"


@dataclass(frozen=True)
class Principal:
    """What the caller's key may use. ``open`` means no keys are configured."""

    key: str | None = None
    users: frozenset[str] = field(default_factory=frozenset)
    cubes: frozenset[str] = field(default_factory=frozenset)
    open: bool = False
    #: Who owns what this key creates (knowledge bases, cubes, databases): the grant's
    #: ``"account"`` when given (several keys may share one), else a digest of the key; an open
    #: server has the one account ``"public"``.
    account: str = "public"

    def may_use_user(self, user_id: str) -> bool:
        return self.open or ANY in self.users or user_id in self.users

    def may_use_cube(self, cube_id: str) -> bool:
        if self.open or ANY in self.cubes or ANY in self.users or cube_id in self.cubes:
            return True
        return owner_of(cube_id) in self.users

    def check_user(self, user_id: str | None) -> None:
        if user_id is not None and not self.may_use_user(user_id):
            raise PermissionDeniedError(f"this API key may not act as user '{user_id}'")

    def check_cubes(self, cube_ids: Iterable[str] | None) -> None:
        for cube_id in cube_ids or ():
            if not self.may_use_cube(cube_id):
                raise PermissionDeniedError(f"this API key may not use cube '{cube_id}'")

    def check_task_owner(self, user_id: str) -> bool:
        return self.may_use_user(user_id)

    @property
    def unrestricted(self) -> bool:
        return self.open or ANY in self.users or ANY in self.cubes

    def allowed_cubes(self) -> list[str] | None:
        """The cubes this key may touch (None: any cube)."""
        if self.unrestricted:
            return None
        return sorted(self.cubes | self.users)


def parse_authorization(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() in ("token", "bearer") and value.strip():
        return value.strip()
    return None


def principal_for(api_keys: dict[str, dict[str, object]], header: str | None) -> Principal:
    """Resolve the Authorization header against the configured keys."""
    if not api_keys:
        return Principal(open=True)
    key = parse_authorization(header)
    if key is None:
        raise AuthenticationError("missing API key: send 'Authorization: Token <key>' (or 'Bearer <key>')")
    grant = next((g for k, g in api_keys.items() if hmac.compare_digest(k.encode(), key.encode())), None)
    if grant is None:
        raise AuthenticationError("invalid API key")
    account = str(grant.get("account") or "key-" + hashlib.sha256(key.encode()).hexdigest()[:16])
    return Principal(key=key, users=_names(grant.get("users")), cubes=_names(grant.get("cubes")), account=account)


def _names(value: object) -> frozenset[str]:
    """A grant's ``users`` / ``cubes``: one name or a list of names."""
    if isinstance(value, str):
        return frozenset([value])
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(str(v) for v in value)
    return frozenset()


def require_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller's :class:`Principal` (401 on a bad key)."""
    api_keys = request.app.state.api_keys
    return principal_for(api_keys, request.headers.get("authorization"))
