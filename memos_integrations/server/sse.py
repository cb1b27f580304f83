"""Server-sent events exactly as MemOS writes them: ``data: <json>\\n\\n`` frames, no ``event:``
or ``id:`` lines, no heartbeat; the end of a ``/chat/stream`` is the connection closing.

Example::

    >>> frame({"type": "text", "data": "你好"})
    'data: {"type": "text", "data": "你好"}\\n\\n'
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "Access-Control-Allow-Origin": "*",
    "X-Accel-Buffering": "no",
}


def frame(payload: Any, *, ascii_only: bool = False) -> str:
    """One SSE frame (JSON with ``ensure_ascii=False`` unless ``ascii_only``)."""
    return f"data: {json.dumps(payload, ensure_ascii=ascii_only)}\n\n"


def text_frame(text: str) -> str:
    return frame({"type": "text", "data": text})


def reasoning_frame(text: str) -> str:
    return frame({"type": "reasoning", "data": text})


def error_frame(message: str) -> str:
    """The error frame of ``/chat/stream``: key ``content``, ASCII-escaped JSON (as MemOS)."""
    return frame({"type": "error", "content": message}, ascii_only=True)


def sse_response(frames: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(frames, media_type="text/event-stream", headers=SSE_HEADERS)


def parse_frames(text: str) -> list[dict[str, Any]]:
    """Parse a complete SSE body into its JSON payloads (for clients and tests)."""
    out = []
    for line in text.splitlines():
        if line.startswith("data:"):
            out.append(json.loads(line[5:].strip()))
    return out
