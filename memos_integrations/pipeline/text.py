"""Small text helpers shared by memorize and recall: language, sentence splitting, times."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

import dateparser

from memos_integrations.domain.text import has_cjk

_SENTENCE_END = re.compile(r"(?<=[。！？!?；;…])|(?<=[.!?])(?=\s)|\n+")
_SOFT_BREAK = re.compile(r"(?<=[，,、：:])|(?<=\s)")


def split_content(text: str, limit: int) -> list[str]:
    """Split text longer than ``limit`` characters at sentence boundaries.

    Never cuts inside a word or a CJK character sequence: pieces end at sentence punctuation, else
    at clause punctuation or whitespace; only a single unbroken run longer than ``limit`` is kept
    whole (it cannot be split without cutting it).
    """
    text = text.strip()
    if limit <= 0 or len(text) <= limit:
        return [text] if text else []
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]
    pieces: list[str] = []
    for sentence in sentences:
        if len(sentence) <= limit:
            pieces.append(sentence)
        else:
            pieces.extend(_pack([p for p in _SOFT_BREAK.split(sentence) if p], limit))
    return _pack(pieces, limit, joiner_for=text)


def _pack(parts: list[str], limit: int, joiner_for: str | None = None) -> list[str]:
    out: list[str] = []
    current = ""
    for part in parts:
        part = part.strip() if joiner_for is not None else part
        if not part:
            continue
        sep = "" if joiner_for is None or has_cjk(part[:1] + current[-1:]) else " "
        if current and len(current) + len(sep) + len(part) > limit:
            out.append(current.strip())
            current = part
        else:
            current = f"{current}{sep}{part}" if current else part
    if current.strip():
        out.append(current.strip())
    return out


@lru_cache(maxsize=4096)
def _parse_cached(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    parsed = dateparser.parse(text, settings={"RETURN_AS_TIMEZONE_AWARE": False, "PREFER_DAY_OF_MONTH": "first"})
    return parsed


def parse_when(value: str | datetime | float | None) -> datetime | None:
    """A message time (ISO text, free text such as '1:56 pm on 8 May, 2023', Unix time) as aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, UTC)
    parsed = _parse_cached(str(value).strip())
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
