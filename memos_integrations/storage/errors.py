"""The one place where Weaviate client exceptions become the package's typed exceptions.

:func:`classify` decides by exception type first, then by status code: the HTTP status of REST
calls (``UnexpectedStatusCodeError.status_code``) or the gRPC status code of the ``grpc.Call``
that the client's gRPC errors wrap (found on the exception chain). Weaviate answers several
distinct failures with the same code (a missing tenant is HTTP 422 on REST and gRPC ``UNKNOWN`` on
queries; a duplicate id is also 422; a missing object on replace is 500), so only for those
ambiguous codes the server's error text is matched against :data:`SERVER_MESSAGES`, the single
table of server messages the package knows.

Use :func:`storage_errors` around calls into the client::

    with storage_errors(f"listing cube {cube_id}"):
        reply = collection.query.fetch_objects(...)

It raises :class:`~memos_integrations.errors.CubeNotFoundError`,
:class:`~memos_integrations.errors.NotFoundError`,
:class:`~memos_integrations.errors.StorageConflictError`,
:class:`~memos_integrations.errors.StorageRejectedError`,
:class:`~memos_integrations.errors.WeaviateUnavailableError` or
:class:`~memos_integrations.errors.StorageError`, chained to the client's exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import httpx
from grpc import StatusCode
from weaviate.exceptions import (
    AuthenticationFailedError,
    ObjectAlreadyExistsError,
    SchemaValidationError,
    UnexpectedStatusCodeError,
    WeaviateBaseError,
    WeaviateClosedClientError,
    WeaviateConnectionError,
    WeaviateGRPCUnavailableError,
    WeaviateInsertInvalidPropertyError,
    WeaviateInvalidInputError,
    WeaviateStartUpError,
    WeaviateTimeoutError,
)

from memos_integrations.errors import (
    CollectionMissingError,
    CubeNotFoundError,
    MemosError,
    NotFoundError,
    StorageConflictError,
    StorageError,
    StorageRejectedError,
    WeaviateUnavailableError,
)

__all__ = ["SERVER_MESSAGES", "classify", "grpc_status", "http_status", "storage_errors"]

#: Errors that mean "Weaviate cannot be reached right now".
_UNAVAILABLE_TYPES: Final = (
    WeaviateConnectionError, WeaviateTimeoutError, WeaviateClosedClientError, WeaviateGRPCUnavailableError,
    WeaviateStartUpError, httpx.TransportError,
)
#: Errors the client raises before sending anything, for input it cannot send.
_REJECTED_TYPES: Final = (WeaviateInvalidInputError, WeaviateInsertInvalidPropertyError, SchemaValidationError)

_HTTP: Final[dict[int, type[MemosError]]] = {
    404: NotFoundError,
    409: StorageConflictError,
    400: StorageRejectedError,
    413: StorageRejectedError,
    422: StorageRejectedError,
    502: WeaviateUnavailableError,
    503: WeaviateUnavailableError,
    504: WeaviateUnavailableError,
}
_GRPC: Final[dict[StatusCode, type[MemosError]]] = {
    StatusCode.NOT_FOUND: NotFoundError,
    StatusCode.ALREADY_EXISTS: StorageConflictError,
    StatusCode.INVALID_ARGUMENT: StorageRejectedError,
    StatusCode.FAILED_PRECONDITION: StorageRejectedError,
    StatusCode.OUT_OF_RANGE: StorageRejectedError,
    StatusCode.UNAVAILABLE: WeaviateUnavailableError,
    StatusCode.DEADLINE_EXCEEDED: WeaviateUnavailableError,
    StatusCode.RESOURCE_EXHAUSTED: WeaviateUnavailableError,
    StatusCode.CANCELLED: WeaviateUnavailableError,
}
#: HTTP statuses and gRPC codes Weaviate uses for several different failures.
_AMBIGUOUS_HTTP: Final = frozenset({422, 500})
_AMBIGUOUS_GRPC: Final = frozenset({StatusCode.UNKNOWN, StatusCode.INTERNAL, StatusCode.INVALID_ARGUMENT})

#: Server messages that tell ambiguous codes apart (lower case, first match wins).
SERVER_MESSAGES: Final[tuple[tuple[str, type[MemosError]], ...]] = (
    ("tenant not found", CubeNotFoundError),
    ("already exists", StorageConflictError),
    ("no object with id", NotFoundError),
    ("could not find class", CollectionMissingError),
    ("non-existing index", CollectionMissingError),
    ("query maximum results exceeded", StorageRejectedError),
    ("no such prop", StorageRejectedError),
    ("deadline exceeded", WeaviateUnavailableError),  # e.g. a write waiting on a dead raft leader
)


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a failed REST call (``None`` for gRPC and client-side errors)."""
    status = getattr(exc, "status_code", None)
    if isinstance(exc, WeaviateBaseError) and isinstance(status, int) and status >= 100:
        return status
    return None


def grpc_status(exc: BaseException) -> StatusCode | None:
    """The gRPC status code of a failed gRPC call, read from the exception or its chain.

    The client raises its own exceptions while handling the ``grpc.RpcError`` (a ``grpc.Call``
    with ``code()``), so the original stays reachable through ``__cause__`` / ``__context__``.
    ``UnexpectedStatusCodeError`` built from a gRPC call carries the numeric code instead.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code_of = getattr(current, "code", None)
        if callable(code_of):
            try:
                code = code_of()
            except Exception:  # noqa: BLE001 - not a grpc.Call after all
                code = None
            if isinstance(code, StatusCode):
                return code
        status = getattr(current, "status_code", None)
        if isinstance(current, UnexpectedStatusCodeError) and isinstance(status, int) and status < 100:
            return next((c for c in StatusCode if c.value[0] == status), None)
        current = current.__cause__ or current.__context__
    return None


def _by_message(exc: BaseException) -> type[MemosError] | None:
    text = str(exc).lower()
    return next((kind for needle, kind in SERVER_MESSAGES if needle in text), None)


def _kind(exc: BaseException) -> type[MemosError]:
    if isinstance(exc, MemosError):
        return type(exc)
    if isinstance(exc, _UNAVAILABLE_TYPES):
        return WeaviateUnavailableError
    if isinstance(exc, ObjectAlreadyExistsError):
        return StorageConflictError
    if isinstance(exc, _REJECTED_TYPES):
        return StorageRejectedError
    if isinstance(exc, AuthenticationFailedError):
        return StorageError
    http = http_status(exc)
    if http is not None:
        if http in _AMBIGUOUS_HTTP:
            return _by_message(exc) or _HTTP.get(http, StorageError)
        return _HTTP.get(http, StorageError)
    code = grpc_status(exc)
    if code is not None:
        if code in _AMBIGUOUS_GRPC:
            return _by_message(exc) or _GRPC.get(code, StorageError)
        return _GRPC.get(code, StorageError)
    return _by_message(exc) or StorageError


def classify(exc: BaseException, action: str = "Weaviate operation") -> MemosError:
    """The typed exception for a failed Weaviate call (not raised; chain it with ``from exc``).

    ``action`` says what was being done ("listing cube x"); it starts the message.
    """
    if isinstance(exc, MemosError):
        return exc
    kind = _kind(exc)
    return kind(f"{action} failed: {exc}", details={"http_status": http_status(exc),
                                                    "grpc_status": getattr(grpc_status(exc), "name", None)})


@contextmanager
def storage_errors(action: str) -> Iterator[None]:
    """Translate Weaviate client errors raised inside the block with :func:`classify`."""
    try:
        yield
    except (WeaviateBaseError, httpx.TransportError) as exc:
        raise classify(exc, action) from exc
