"""Types shared by the request schemas."""

from __future__ import annotations

from typing import Annotated, Any

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
        raise ValueError(f"{field} must be a string or a list of messages")
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
