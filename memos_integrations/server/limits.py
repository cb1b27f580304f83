"""Request limits of the HTTP server (environment variables, read once per app).

* ``MEMOS_MAX_BODY_BYTES`` (default 2 MiB): larger request bodies get 413.
* ``MEMOS_MAX_MESSAGES`` (default 1000): more messages in one add/chat request get 413.
* ``MEMOS_MAX_QUERY_TOKENS`` (default 20 000, seed 003): a query whose *estimated* token count is
  larger gets 413. The estimate needs no tokenizer: every CJK character counts as one token and
  every other 4 characters as one token (``estimate_tokens``), which over-counts rather than
  under-counts for typical BPE tokenizers.
* Result limits (``memory_limit_number``, ``top_k`` ...) above 25 are rejected with 422 by the
  request schemas (``MAX_LIMIT``).

Example::

    >>> estimate_tokens("hello world!")
    3
    >>> estimate_tokens("我住在柏林")
    5
"""

from __future__ import annotations

import re

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from memos_integrations.domain.requests import MAX_LIMIT
from memos_integrations.errors import PayloadTooLargeError

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


class ServerLimits(BaseSettings):
    """Limits applied by the server before any work is done."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    max_body_bytes: int = Field(default=2 * 1024 * 1024, validation_alias="MEMOS_MAX_BODY_BYTES")
    max_messages: int = Field(default=1000, validation_alias="MEMOS_MAX_MESSAGES")
    max_query_tokens: int = Field(default=20_000, validation_alias="MEMOS_MAX_QUERY_TOKENS")
    max_wait_seconds: float = Field(default=600.0, validation_alias="MEMOS_MAX_WAIT_SECONDS")


def estimate_tokens(text: str) -> int:
    """A tokenizer-free upper-ish estimate: CJK characters count 1, other characters 1/4."""
    cjk = len(_CJK.findall(text))
    other = len(text) - cjk
    return cjk + (other + 3) // 4


def check_query(text: str, limits: ServerLimits, field: str = "query") -> None:
    tokens = estimate_tokens(text)
    if tokens > limits.max_query_tokens:
        raise PayloadTooLargeError(
            f"{field} is about {tokens} tokens; the limit is {limits.max_query_tokens} "
            "(MEMOS_MAX_QUERY_TOKENS). Shorten it."
        )


def check_messages(count: int, limits: ServerLimits, field: str = "messages") -> None:
    if count > limits.max_messages:
        raise PayloadTooLargeError(
            f"{field} has {count} entries; the limit is {limits.max_messages} (MEMOS_MAX_MESSAGES). "
            "Send them in several requests."
        )


__all__ = ["MAX_LIMIT", "ServerLimits", "check_messages", "check_query", "estimate_tokens"]
