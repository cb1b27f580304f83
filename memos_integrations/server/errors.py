"""Errors -> each API family's envelope, in one place.

=========================  ===========================================  ===================
family (path prefix)       error body                                   HTTP status
=========================  ===========================================  ===================
MemOS open-source          ``{"code": status, "message", "data": null}``  = ``code``
(``/product``, ``/health``)  (+ ``"detail": [...]`` for 422)
MemOS cloud                ``{"code": business code, "message",          non-2xx
(``/api/openmem/v1``)       "data": null}`` (40000 bad params, 40001 not
                           found, 40100 auth, 40300 forbidden, 50000 ...)
MemnetAI (``/v1``,          ``{"code": "<status>", "msg"}``               non-2xx
``/memories/task`` ...)
=========================  ===========================================  ===================

:class:`~memos_integrations.errors.MemosError` subclasses carry their status; request validation
is 422 with the field names; anything unexpected is 500 with a short message, and the traceback
goes to the log, never into a body.
"""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError as PydanticValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memos_integrations.domain.requests import MAX_JSON_DEPTH, find_input_problem
from memos_integrations.errors import MemosError

logger = logging.getLogger("memos_integrations.server")

CLOUD_PREFIX = "/api/openmem/v1"
MEMNET_PREFIXES = ("/v1/", "/memories/task", "/common-sense/task", "/think/task", "/dream/task")

CLOUD_CODES = {400: 40000, 401: 40100, 403: 40300, 404: 40001, 405: 40000, 413: 40000, 422: 40000,
               500: 50000, 502: 50002, 503: 50004}


class Family(StrEnum):
    MEMOS = "memos"
    CLOUD = "cloud"
    MEMNET = "memnet"


def family_of(path: str, cloud_prefix: str = CLOUD_PREFIX) -> Family:
    """Which API family a path belongs to."""
    if path.startswith(cloud_prefix):
        return Family.CLOUD
    if path.startswith(MEMNET_PREFIXES):
        return Family.MEMNET
    return Family.MEMOS


def error_body(family: Family, status: int, message: str, detail: Any = None) -> dict[str, Any]:
    if family is Family.MEMNET:
        return {"code": str(status), "msg": message}
    if family is Family.CLOUD:
        return {"code": CLOUD_CODES.get(status, status * 100), "message": message, "data": None}
    body: dict[str, Any] = {"code": status, "message": message, "data": None}
    if detail is not None:
        body["detail"] = detail
    return body


def error_response(path: str, status: int, message: str, detail: Any = None,
                   cloud_prefix: str = CLOUD_PREFIX) -> JSONResponse:
    # a message may quote the caller's input: lone surrogates in it must not break the answer
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    if detail is not None:
        detail = json.loads(json.dumps(detail, default=str))  # ASCII escapes, then valid str again
        detail = _printable(detail)
    return JSONResponse(error_body(family_of(path, cloud_prefix), status, message, detail), status_code=status)


def _printable(value: Any) -> Any:
    """``value`` with every string made encodable (lone surrogates become ``\\udXXX`` text)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_printable(v) for v in value]
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    return value


def _validation_message(request: Request, errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors:
        loc = " -> ".join(str(x) for x in err.get("loc", ()))
        parts.append(f"[{loc}] {err.get('msg', 'invalid')} (type: {err.get('type', 'value_error')})")
    return f"Parameter validation error on {request.method} {request.url.path}: " + "; ".join(parts)


def _safe_errors(errors: Any) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        item = {k: v for k, v in dict(err).items() if k in ("type", "loc", "msg")}
        if "ctx" in err:
            item["ctx"] = {k: str(v) for k, v in dict(err["ctx"]).items()}
        out.append(item)
    return jsonable_encoder(out)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers (MemosError, validation, HTTPException, anything else)."""

    async def memos_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, MemosError)
        if exc.status_code >= 500:
            logger.error("%s %s failed: %s", request.method, request.url.path, exc.message, exc_info=exc)
        return error_response(request.url.path, exc.status_code, exc.message)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _safe_errors(exc.errors())
        return error_response(request.url.path, 422, _validation_message(request, errors), errors)

    async def model_validation_error(request: Request, exc: Exception) -> JSONResponse:
        # a value the route schema let through but an engine request refused
        assert isinstance(exc, PydanticValidationError)
        errors = _safe_errors(exc.errors())
        return error_response(request.url.path, 422, _validation_message(request, errors), errors)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        response = error_response(request.url.path, exc.status_code, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("%s %s crashed", request.method, request.url.path, exc_info=exc)
        return error_response(request.url.path, 500, f"internal error ({type(exc).__name__}); see the server log")

    app.add_exception_handler(MemosError, memos_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(PydanticValidationError, model_validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def json_body_problem(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Hard limits on a JSON body, checked before any route sees it: lone surrogates anywhere
    (``"\\ud800"`` in a value or a key) and nesting deeper than ``max_depth``. Returns the
    message naming the field, or None (also for bodies that are not JSON: the route reports those)."""
    text = body.lstrip()[:1]
    if text not in (b"{", b"["):
        return None
    try:
        data = json.loads(body)
    except RecursionError:
        return f"the JSON body is nested deeper than {max_depth} levels"
    except ValueError:
        return None
    return find_input_problem(data, max_depth=max_depth)


class BodySizeLimitMiddleware:
    """Reject request bodies larger than ``max_bytes`` with 413 in the family's envelope, and
    JSON bodies with lone surrogates or nesting deeper than ``max_json_depth`` with 422.

    The body is read (up to the limit) before the route runs and replayed to it, so chunked
    uploads without ``Content-Length`` are limited too.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_json_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(path, scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._reject(path, scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = json_body_problem(body, self.max_json_depth)
        if problem is not None:
            await error_response(path, 422, f"Parameter validation error on {scope.get('method')} {path}: "
                                 f"{problem}")(scope, receive, send)
            return
        replay: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

        async def replay_receive() -> Message:
            if replay:
                return replay.pop()
            return await receive()

        await self.app(scope, replay_receive, send)

    async def _reject(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            path, 413, f"request body is larger than {self.max_bytes} bytes (MEMOS_MAX_BODY_BYTES)"
        )
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


class UnprocessableError(MemosError):
    """A request the schema could not express as invalid (a missing field that depends on
    others, ...): HTTP 422 like a validation error."""

    status_code = 422


class ChatModelError(MemosError):
    """The chat model (an upstream OpenAI-compatible server) failed: HTTP 502."""

    status_code = 502
