"""The storage error classifier: Weaviate client exceptions -> typed exceptions (no server)."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest
from grpc.aio import AioRpcError, Metadata
from weaviate.exceptions import (
    InsufficientPermissionsError,
    ObjectAlreadyExistsError,
    UnexpectedStatusCodeError,
    WeaviateClosedClientError,
    WeaviateConnectionError,
    WeaviateDeleteManyError,
    WeaviateInvalidInputError,
    WeaviateQueryError,
    WeaviateTimeoutError,
)

from memos_integrations.errors import (
    CollectionMissingError,
    CubeNotFoundError,
    InvalidRequestError,
    MemosError,
    NotFoundError,
    StorageConflictError,
    StorageError,
    StorageRejectedError,
    WeaviateUnavailableError,
)
from memos_integrations.storage.errors import classify, grpc_status, http_status, storage_errors


def rest_error(status: int, message: str | None = None) -> UnexpectedStatusCodeError:
    """What the client raises for a REST answer with that status (and server error message)."""
    body = {"error": [{"message": message}]} if message is not None else None
    response = httpx.Response(status, json=body, request=httpx.Request("PATCH", "http://weaviate/v1/objects"))
    return UnexpectedStatusCodeError("Object was not updated.", response)


class FakeRpcError(grpc.RpcError):
    """A failed gRPC call as the grpc library reports it (``code()``, ``details()``)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def grpc_query_error(code: grpc.StatusCode, details: str) -> WeaviateQueryError:
    """What the client raises for a failed gRPC search: its own error, raised while handling
    the ``RpcError`` (which stays reachable as ``__context__``)."""
    try:
        try:
            raise FakeRpcError(code, details)
        except FakeRpcError as rpc:
            raise WeaviateQueryError(str(rpc.details()), "GRPC search")
    except WeaviateQueryError as exc:
        return exc


@pytest.mark.parametrize(("exc", "kind"), [
    (rest_error(404), NotFoundError),
    (rest_error(422, 'msg:repo.object code:422 err:determine shard: tenant not found: "c_x"'), CubeNotFoundError),
    (rest_error(422, "id '0d4e' already exists"), StorageConflictError),
    (rest_error(422, "invalid object: vector lengths don't match"), StorageRejectedError),
    (rest_error(422), StorageRejectedError),
    (rest_error(409), StorageConflictError),
    (rest_error(500, "no object with id '0d4e'"), NotFoundError),
    (rest_error(500, "disk full"), StorageError),
    (rest_error(503), WeaviateUnavailableError),
])
def test_rest_errors_by_status(exc: Exception, kind: type[MemosError]) -> None:
    typed = classify(exc, "update of memory m1")
    assert type(typed) is kind
    assert typed.message.startswith("update of memory m1 failed: ")
    assert typed.details["http_status"] == exc.status_code  # type: ignore[attr-defined]


@pytest.mark.parametrize(("code", "details", "kind"), [
    (grpc.StatusCode.UNKNOWN, 'object search at index testmemory: tenant not found: "c_nope"', CubeNotFoundError),
    (grpc.StatusCode.UNKNOWN, "could not find class Nope in schema", CollectionMissingError),
    (grpc.StatusCode.UNKNOWN, "invalid pagination params: query maximum results exceeded", StorageRejectedError),
    (grpc.StatusCode.UNKNOWN, "something odd", StorageError),
    (grpc.StatusCode.NOT_FOUND, "no such thing", NotFoundError),
    (grpc.StatusCode.INVALID_ARGUMENT, "bad vector", StorageRejectedError),
    (grpc.StatusCode.ALREADY_EXISTS, "dup", StorageConflictError),
    (grpc.StatusCode.UNAVAILABLE, "connection refused", WeaviateUnavailableError),
    (grpc.StatusCode.DEADLINE_EXCEEDED, "slow", WeaviateUnavailableError),
])
def test_grpc_errors_by_status_code_on_the_chain(code: grpc.StatusCode, details: str,
                                                 kind: type[MemosError]) -> None:
    exc = grpc_query_error(code, details)
    assert grpc_status(exc) is code and http_status(exc) is None
    typed = classify(exc)
    assert type(typed) is kind
    assert typed.details["grpc_status"] == code.name


def test_status_code_errors_built_from_grpc_calls() -> None:
    call = AioRpcError(grpc.StatusCode.UNAVAILABLE, Metadata(), Metadata(), details="node down")
    exc = UnexpectedStatusCodeError("batch", call)
    assert http_status(exc) is None and grpc_status(exc) is grpc.StatusCode.UNAVAILABLE
    assert type(classify(exc)) is WeaviateUnavailableError
    denied = InsufficientPermissionsError(AioRpcError(grpc.StatusCode.PERMISSION_DENIED, Metadata(), Metadata()))
    assert type(classify(denied)) is StorageError


def test_batch_delete_error() -> None:
    try:
        try:
            raise FakeRpcError(grpc.StatusCode.UNKNOWN, 'batch delete: tenant not found: "c_x"')
        except FakeRpcError as rpc:
            raise WeaviateDeleteManyError(f"[{rpc.code().name}] {rpc.details()}")
    except WeaviateDeleteManyError as exc:
        assert type(classify(exc)) is CubeNotFoundError


@pytest.mark.parametrize(("exc", "kind"), [
    (WeaviateConnectionError("refused"), WeaviateUnavailableError),
    (WeaviateTimeoutError("slow"), WeaviateUnavailableError),
    (WeaviateClosedClientError(), WeaviateUnavailableError),
    (httpx.ConnectError("refused"), WeaviateUnavailableError),
    (ObjectAlreadyExistsError("dup"), StorageConflictError),
    (WeaviateInvalidInputError("limit must be positive"), StorageRejectedError),
])
def test_client_side_errors_by_type(exc: Exception, kind: type[MemosError]) -> None:
    assert type(classify(exc)) is kind


def test_typed_exceptions_keep_their_place_in_the_hierarchy() -> None:
    assert issubclass(CubeNotFoundError, NotFoundError)
    assert issubclass(StorageConflictError, StorageError) and StorageConflictError.status_code == 409
    assert issubclass(StorageRejectedError, StorageError) and StorageRejectedError.status_code == 422
    assert issubclass(WeaviateUnavailableError, StorageError)


def test_storage_errors_raises_the_typed_exception_chained() -> None:
    original = rest_error(404)
    with pytest.raises(NotFoundError, match="read of memory m1 failed") as caught, storage_errors("read of memory m1"):
        raise original
    assert caught.value.__cause__ is original


def test_storage_errors_lets_other_exceptions_through() -> None:
    mine = InvalidRequestError("bad")
    with pytest.raises(InvalidRequestError) as caught, storage_errors("x"):
        raise mine
    assert caught.value is mine
    with pytest.raises(KeyError), storage_errors("x"):
        raise KeyError("k")


def test_classify_passes_our_own_exceptions_through() -> None:
    ours: Any = CubeNotFoundError("no cube")
    assert classify(ours) is ours


def test_batch_insert_deadline_is_transient() -> None:
    """A cluster write waiting on a dead raft leader ends as a gRPC batch deadline: 503, retried."""
    from weaviate.exceptions import WeaviateBatchError

    exc = WeaviateBatchError("Query call with protocol GRPC batch failed with message Deadline Exceeded.")
    assert type(classify(exc)) is WeaviateUnavailableError
