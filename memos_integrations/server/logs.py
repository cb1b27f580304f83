"""Structured server logs: one JSON object a line, each with the request id.

``memos-integrations serve`` configures logging from the settings (``MEMOS_LOG_FORMAT`` =
``json`` | ``text``, ``MEMOS_LOG_LEVEL``) through :func:`log_config`, a ``logging.config``
dictionary that uvicorn applies in the server process and in every ``--workers`` worker. Every
record carries ``request_id`` (the ``X-Request-ID`` of the request being served, ``-`` outside a
request; see :mod:`~memos_integrations.server.metrics`), and each request ends with one
``memos_integrations.access`` record holding ``method``, ``route``, ``path``, ``status`` and
``duration_ms``, so a request's lines are found with one filter::

    {"timestamp": "2026-11-30T09:01:02.345+00:00", "level": "INFO", "logger": "memos_integrations.access",
     "message": "POST /product/search 200", "request_id": "3f2a...", "method": "POST",
     "route": "/product/search", "status": 200, "duration_ms": 31.4}
"""

from __future__ import annotations

import logging
from typing import Any

from memos_integrations.config import Settings

ACCESS_LOGGER = "memos_integrations.access"


class RequestIdFilter(logging.Filter):
    """Give records created before the request-id record factory was installed a ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            from memos_integrations.server.metrics import request_id

            record.request_id = request_id()
        return True


def log_config(settings: Settings) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of the server (pass as uvicorn's ``log_config``)."""
    if settings.log_format == "json":
        formatter: dict[str, Any] = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": True,
            "json_ensure_ascii": False,
        }
    else:
        formatter = {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    level = settings.log_level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "default", "filters": ["request_id"],
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "loggers": {
            # uvicorn's access line lacks the route and request id: ours (ACCESS_LOGGER) replaces it
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            "uvicorn": {"handlers": ["default"], "propagate": False, "level": level},
            "uvicorn.error": {"handlers": ["default"], "propagate": False, "level": level},
        },
        "root": {"handlers": ["default"], "level": level},
    }


__all__ = ["ACCESS_LOGGER", "RequestIdFilter", "log_config"]
