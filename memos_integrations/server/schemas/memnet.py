"""MemnetAI request models (camelCase, 0/1 flags), wire.md §6 and seeds 002/004."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from memos_integrations.server.schemas.common import WireRecallOptions

Flag = Annotated[int, Field(ge=0, le=1)]


class _Base(BaseModel):
    model_config = ConfigDict(extra="ignore")


class MemnetMessage(_Base):
    role: str = Field(min_length=1)
    content: str
    character: str | None = None


class MemoriesRequest(_Base):
    memoryAgentName: str = Field(min_length=1, max_length=256)
    messages: list[MemnetMessage] = Field(min_length=1)
    language: str | None = "zh-CN"
    isThirdPerson: Flag = 0
    metadata: str | dict[str, Any] | None = ""
    asyncMode: Flag = 0
    namespace: str | None = Field(default="default", max_length=128)


#: MemnetAI field -> RecallOptions field (``/v1/recall``, wire.md §6, seed 002); 0/1 flags are booleans.
RECALL_FIELDS: dict[str, str] = {
    "character": "character",
    "recallDeep": "recall_deep",
    "isIncludeLinkedNewMemoriesFromInvalid": "include_linked_new_from_invalid",
    "isUsingAssociativeThinking": "associative",
    "isUsingCommonSenseDatabase": "use_common_sense",
    "isUsingGlobalCommonSenseDatabase": "use_global_common_sense",
    "isUsingMemoryAgentCommonSenseDatabase": "use_agent_common_sense",
    "commonSenseDatabaseIdList": "common_sense_ids",
    "isReturningDetailedMemoryInfo": "detailed",
}


class RecallRequestBody(_Base, WireRecallOptions):
    RECALL_FIELDS: ClassVar[dict[str, str]] = RECALL_FIELDS

    memoryAgentName: str = Field(min_length=1, max_length=256)
    query: str = Field(min_length=1)
    namespace: str | None = Field(default="default", max_length=128)
    character: str | None = "用户"
    recallDeep: int = Field(default=1, ge=0, le=3)
    isIncludeLinkedNewMemoriesFromInvalid: Flag = 0
    isUsingAssociativeThinking: Flag = 1
    isUsingCommonSenseDatabase: Flag = 1
    isUsingGlobalCommonSenseDatabase: Flag = 1
    isUsingMemoryAgentCommonSenseDatabase: Flag = 0
    commonSenseDatabaseIdList: list[str] | None = None
    isReturningDetailedMemoryInfo: Flag = 0


class CommonSenseRequest(_Base):
    """``/v1/common-sense``. ``memoryAgentName`` (an extension the SDK does not send) writes the
    memory agent's own database instead of ``commonSenseDatabaseId``."""

    commonSenseDatabaseId: str = Field(default="", max_length=200)
    commonSenseText: str = Field(min_length=1)
    asyncMode: Flag = 1
    memoryAgentName: str | None = Field(default=None, max_length=256)


class ThinkDreamRequest(_Base):
    """``/v1/think`` and ``/v1/dream`` (same fields). ``isAuto`` 1: think picks the subject itself
    (the recent topics) even when one is given."""

    memoryAgentName: str = Field(min_length=1, max_length=256)
    subject: str = Field(default="", max_length=2000)
    asyncMode: Flag = 1
    isAuto: Flag = 0
    namespace: str | None = Field(default="default", max_length=128)
    #: Extension: the moment the forgetting curve is evaluated at (dream; default now), ISO 8601.
    referenceTime: datetime | None = None
