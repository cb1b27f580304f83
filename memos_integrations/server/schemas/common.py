"""Types shared by the request schemas."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict

from memos_integrations.domain.requests import ChatMessage

Identifier = Annotated[str, AfterValidator(lambda v: _identifier(v))]


def _identifier(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > 256:
        raise ValueError("must be at most 256 characters")
    return value


def to_messages(value: Any, field: str = "messages") -> list[ChatMessage]:
    """MemOS ``MessagesType``: a string, a list of OpenAI-style messages, or a bare list of
    content parts (which becomes one user message)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [ChatMessage(role="user", content=value)] if value.strip() else []
    if not isinstance(value, list):
        raise ValueError(f"{field} must be a string or a list of messages")  # noqa: TRY004 - callers map ValueError to 422
    out: list[ChatMessage] = []
    parts: list[Any] = []
    for entry in value:
        if isinstance(entry, dict) and "role" in entry:
            out.append(ChatMessage.model_validate(entry))
        elif isinstance(entry, dict) and "type" in entry:
            parts.append(entry)
        elif isinstance(entry, str):
            parts.append({"type": "text", "text": entry})
        else:
            raise ValueError(f"{field} entries must be messages with a 'role' or content parts with a 'type'")
    if parts:
        out.append(ChatMessage(role="user", content=parts))
    return out


class WireRecallOptions(BaseModel):
    """A request body that carries recall options under its wire format's names.

    Each API family declares its names once: ``RECALL_FIELDS`` maps a wire field to its
    :class:`~memos_integrations.domain.requests.RecallOptions` name (fields a body does not have
    are skipped), ``RECALL_FIXED`` holds what an endpoint always uses, and ``NULL_IS_DEFAULT`` says
    whether a ``null`` means "the RecallOptions default" (else it is passed on, e.g. MemOS
    ``dedup: null`` = exact-text dedup).
    """

    RECALL_FIELDS: ClassVar[Mapping[str, str]] = {}
    RECALL_FIXED: ClassVar[Mapping[str, Any]] = {}
    NULL_IS_DEFAULT: ClassVar[bool] = True

    def recall_options(self) -> dict[str, Any]:
        """This body's recall options under their ``RecallOptions`` names."""
        values: dict[str, Any] = {}
        fields = type(self).model_fields
        for wire, name in self.RECALL_FIELDS.items():
            if wire not in fields:
                continue
            value = getattr(self, wire)
            if value is None and self.NULL_IS_DEFAULT:
                continue
            values[name] = value.value if isinstance(value, Enum) else value
        values.update(self.RECALL_FIXED)
        return values


class Envelope(BaseModel):
    """``{code, message, data}`` (MemOS open-source and cloud)."""

    model_config = ConfigDict(extra="allow")

    code: int = 200
    message: str
    data: Any = None


class MemnetEnvelope(BaseModel):
    """``{code, msg, data}`` (MemnetAI)."""

    model_config = ConfigDict(extra="allow")

    code: str = "200"
    msg: str = "success"
    data: Any = None
