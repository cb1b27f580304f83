"""One exception hierarchy for the whole package.

Every error a caller can trigger is a :class:`MemosError` subclass with an HTTP status, so the
server maps it to each API family's envelope in one place (``server/errors.py``) and Python
callers can catch precise types.
"""

from __future__ import annotations

from typing import Any


class MemosError(Exception):
    """Base class. ``status_code`` is the HTTP status the server answers with."""

    status_code: int = 500
    #: True for failures of a dependency that may pass (a model or Weaviate down, a timeout):
    #: durable tasks failing with one are retried later; anything else is final.
    transient: bool = False

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequestError(MemosError, ValueError):
    """The caller sent a value we cannot use (HTTP 400)."""

    status_code = 400


class FilterError(InvalidRequestError):
    """A filter in the documented DSL names an unknown field or operator, or has a bad value."""


class AuthenticationError(MemosError):
    """Missing or wrong API key (HTTP 401)."""

    status_code = 401


class PermissionDeniedError(MemosError):
    """The key may not use that user or cube (HTTP 403)."""

    status_code = 403


class NotFoundError(MemosError, LookupError):
    """A memory, task or model that does not exist (HTTP 404)."""

    status_code = 404


class PayloadTooLargeError(MemosError):
    """A body, message list or query beyond the documented limits (HTTP 413)."""

    status_code = 413


class ConfigurationError(MemosError):
    """The package is not configured for what was asked (e.g. no chat model)."""

    status_code = 400


class ModelNotFoundError(InvalidRequestError):
    """``model_name_or_path`` names no configured chat model."""


class StorageError(MemosError):
    """Weaviate refused or failed an operation."""

    status_code = 500


class WeaviateUnavailableError(StorageError):
    """No Weaviate server could be reached or started."""

    status_code = 503
    transient = True


class CollectionMissingError(WeaviateUnavailableError, NotFoundError):
    """Weaviate does not know one of our collections: it is starting (schema not loaded yet) or
    lost its data. HTTP 503 and transient, not a 404 of the caller's object (still a
    :class:`NotFoundError` for code that creates collections and waits for them)."""


class CubeNotFoundError(NotFoundError):
    """Weaviate has no tenant for the cube: nothing was ever stored in it (reads treat it as empty)."""


class StorageConflictError(StorageError):
    """Weaviate already holds the object or collection being created (HTTP 409)."""

    status_code = 409


class StorageRejectedError(StorageError):
    """Weaviate refused the request as invalid: schema, vector length, paging bounds (HTTP 422)."""

    status_code = 422


class WeaviateInstallError(MemosError):
    """Neither the official download nor the Go build could provide the server binary."""


class BatchInsertError(StorageError):
    """Some objects of a batch were rejected; ``details`` maps input index to the reason."""


class ExtractionError(MemosError):
    """The LLM returned an empty or unparsable extraction."""

    status_code = 502


class ModelUnavailableError(MemosError):
    """The chat model failed to answer: an error from its server, a timeout, or no answer within
    the deadline (HTTP 502). Transient: work that needs the model is retried later."""

    status_code = 502
    transient = True


class InternetSearchError(MemosError):
    """The configured internet search provider failed (HTTP 502)."""

    status_code = 502
    transient = True
