"""Engine requests and results: the one vocabulary every face (LangGraph, LangChain, LlamaIndex,
HTTP) translates to and from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from memos_integrations.domain.messages import content_text
from memos_integrations.domain.models import MemoryRecord, MemoryType, RelationRecord
from memos_integrations.errors import InvalidRequestError

DEFAULT_SESSION = "default_session"
MAX_LIMIT = 25
#: Deepest nesting of JSON values (``info``, message content, filters) a request may carry.
MAX_JSON_DEPTH = 32


def find_input_problem(value: Any, path: str = "", *, max_depth: int = MAX_JSON_DEPTH, _depth: int = 0) -> str | None:
    """The first hard-limit violation in a JSON-like value, as a message naming the field, or None.

    Checked: text (values and keys) must be valid Unicode (no lone UTF-16 surrogates such as
    ``\\ud800``, which cannot be stored or encoded), and nesting may not be deeper than
    ``max_depth`` levels.

    >>> find_input_problem({"info": {"a": "\\ud800"}})
    "field 'info.a' contains a lone UTF-16 surrogate (U+D800); send valid Unicode text"
    """
    where = path or "body"
    if isinstance(value, str):
        bad = next((ch for ch in value if "\ud800" <= ch <= "\udfff"), None)
        if bad is not None:
            return f"field '{where}' contains a lone UTF-16 surrogate (U+{ord(bad):04X}); send valid Unicode text"
        return None
    if _depth >= max_depth and isinstance(value, dict | list | tuple) and value:
        return f"field '{where}' is nested deeper than {max_depth} levels"
    if isinstance(value, BaseModel):
        fields = {**value.__dict__, **(value.__pydantic_extra__ or {})}
        value = {k: v for k, v in fields.items() if v is not None}
        _depth -= 1  # a model is a level of its own JSON, not an extra one
    if isinstance(value, dict):
        for key, item in value.items():
            key_text = str(key).encode("utf-8", "backslashreplace").decode("utf-8")  # printable path
            problem = find_input_problem(str(key), f"{path}.{key_text}" if path else key_text, max_depth=max_depth,
                                         _depth=_depth + 1)
            problem = problem or find_input_problem(item, f"{path}.{key_text}" if path else key_text,
                                                    max_depth=max_depth, _depth=_depth + 1)
            if problem:
                return problem
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problem = find_input_problem(item, f"{path}[{index}]", max_depth=max_depth, _depth=_depth + 1)
            if problem:
                return problem
    return None


def _checked(model: BaseModel) -> None:
    """Raise ``ValueError`` (a 422 naming the field) on surrogates or too deep nesting."""
    problem = find_input_problem(model)
    if problem:
        raise ValueError(problem)


class ChatMessage(BaseModel):
    """An OpenAI-shaped message plus the documented extras (``character``, ``chat_time``,
    ``message_id``, per-message ``info``)."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: Any = None
    character: str | None = None
    chat_time: str | datetime | None = None
    message_id: str | None = None
    info: dict[str, Any] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in {"user", "assistant", "system", "tool", "function", "developer"}:
            raise ValueError(f"unknown role {value!r}; use user, assistant, system or tool")
        return value

    @property
    def text(self) -> str:
        """The content as plain text (:func:`~memos_integrations.domain.messages.content_text`:
        text parts joined, attachments named)."""
        return content_text(self.content)


class MemorizeRequest(BaseModel):
    """Turn messages into memories (MemOS ``add`` / MemnetAI ``/v1/memories``)."""

    user_id: str = Field(min_length=1, max_length=256)
    messages: list[ChatMessage] = Field(min_length=1)
    cube_ids: list[str] | None = None  # writable cubes; default [user_id]
    session_id: str = DEFAULT_SESSION
    info: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    language: str | None = None
    third_person: bool = False
    mode: Literal["auto", "fast", "fine"] = "auto"
    agent_id: str = ""
    app_id: str = ""
    tools: list[dict[str, Any]] | None = None
    idempotency_key: str | None = None
    memory_type: MemoryType | None = None  # force a type (e.g. KnowledgeMemory for common sense)

    @model_validator(mode="after")
    def _hard_limits(self) -> MemorizeRequest:
        for index, message in enumerate(self.messages):
            if not message.text.strip() and not message.tool_calls:
                raise ValueError(f"messages[{index}].content is empty: every message needs text (or tool_calls)")
        _checked(self)
        return self

    @property
    def writable_cube_ids(self) -> list[str]:
        return list(dict.fromkeys(self.cube_ids or [self.user_id]))


class ConflictAnalysis(BaseModel):
    """One reconciliation outcome (MemnetAI ``historyMemorySummaryConflictAnalyses``)."""

    summary: str
    status_before: str
    status_after: str
    explain: str = ""
    old_memory_id: str | None = None
    new_memory_id: str | None = None


class RelationCorrection(BaseModel):
    """MemnetAI ``historyEntityRelationCorrections``."""

    source: str
    target: str
    original_relation: str
    new_relation: str = ""
    reason: str = ""


class MemorizeResult(BaseModel):
    task_id: str | None = None
    status: str = "completed"
    mode: str = "fast"
    memories: list[MemoryRecord] = Field(default_factory=list)
    reinforced_ids: list[str] = Field(default_factory=list)
    archived_ids: list[str] = Field(default_factory=list)
    conflicts: list[ConflictAnalysis] = Field(default_factory=list)
    relations: list[RelationRecord] = Field(default_factory=list)
    relation_corrections: list[RelationCorrection] = Field(default_factory=list)
    summary: str = ""
    llm_calls: int = 0
    warnings: list[str] = Field(default_factory=list)


class RecallOptions(BaseModel):
    """Every recall option except the query, the owner and the chat history: the ONE options model.

    Each option has one name, one meaning and one default, here. Every face takes these fields
    under these names: the LangChain and LlamaIndex retrievers and memories (as fields or
    ``**options``), the LangGraph nodes (:class:`~memos_integrations.langgraph.nodes.MemoryOptions`
    derives from this class) and the HTTP chat endpoints (``server.chat.ChatTurn`` derives from
    that). Only wire formats use other names, each mapped in one place:
    ``server/schemas/product.py``, ``server/schemas/cloud.py`` and ``server/schemas/memnet.py``
    (``RECALL_FIELDS``). Result limits and ``relativity`` default to the MemOS documentation's
    values (memories 9, preferences 9, tool memories 6, skills 6, relativity 0.45).

    Example::

        options = RecallOptions(top_k=5, relativity=0.3)
        request = options.to_request("Where do I live?", user_id="alice")
    """

    cube_ids: list[str] | None = Field(
        default=None, description="Readable cubes (Weaviate tenants); default [user_id].")
    session_id: str | None = Field(
        default=None, description="Conversation id: memories of this session get a soft boost (never a filter).")
    mode: Literal["fast", "fine", "mixture"] = Field(
        default="fast", description="fast: no LLM; fine: LLM query rewrite and filter; mixture: fine plus "
                                    "the memories recalled earlier in this session.")
    relativity: float = Field(
        default=0.45, ge=0.0, le=1.0,
        description="Minimum relevance in [0, 1] a recalled memory must reach (a hard filter; 0 disables it).")
    top_k: int = Field(default=9, ge=0, le=MAX_LIMIT, description="At most this many fact memories.")
    preference_top_k: int = Field(default=9, ge=0, le=MAX_LIMIT, description="At most this many preferences.")
    tool_top_k: int = Field(default=6, ge=0, le=MAX_LIMIT, description="At most this many tool memories.")
    skill_top_k: int = Field(default=6, ge=0, le=MAX_LIMIT, description="At most this many skills.")
    include_preference: bool = Field(default=True, description="Recall preference memories.")
    include_tool_memory: bool = Field(default=True, description="Recall tool memories (schemas, trajectories).")
    include_skill: bool = Field(default=True, description="Recall skill memories.")
    memory_types: list[MemoryType] | None = Field(
        default=None, description="Only these memory types (None: every type).")
    filter: dict[str, Any] | None = Field(
        default=None, description="MemOS filter DSL on stored fields and info keys (storage/filters.py).")
    reference_time: datetime | None = Field(
        default=None, description="'Now' for time cues such as 'last night' (default: the current time).")
    character: str | None = Field(default=None, description="Who is speaking (MemnetAI character).")
    dedup: Literal["mmr", "sim", "no"] | None = Field(
        default="mmr", description="Dedup of similar memories: mmr, sim, no, or None for exact-text dedup.")
    include_linked_new_from_invalid: bool = Field(
        default=False, description="Also recall the newer memories that replaced invalid recalled ones.")
    associative: bool = Field(
        default=False, description="Associative thinking over entity relations (MemnetAI).")
    recall_deep: int = Field(default=1, ge=0, le=3, description="How many relation hops association follows.")
    use_common_sense: bool = Field(
        default=True, description="Master switch of common-sense / knowledge-base recall.")
    use_global_common_sense: bool = Field(default=True, description="Read the global common-sense database.")
    use_agent_common_sense: bool = Field(
        default=False, description="Read the memory agent's own common-sense database.")
    common_sense_ids: list[str] | None = Field(
        default=None, description="Common-sense databases / knowledge bases read by this recall only.")
    knowledge_top_k: int = Field(default=6, ge=0, le=MAX_LIMIT, description="At most this many knowledge hits.")
    include_archived: bool = Field(default=False, description="Also recall archived memories.")
    detailed: bool = Field(
        default=False, description="Return every detail of each memory where a wire format has a short and a "
                                   "detailed form (MemnetAI isReturningDetailedMemoryInfo).")
    language: str | None = Field(default=None, description="Language of the memoryPrompt (zh/en; default: the query's).")
    conversation_id: str | None = Field(
        default=None, description="Soft boost for memories whose info.conversation_id matches.")
    reinforce: bool = Field(
        default=True, description="Recall strengthens what it returns (in the background).")

    def recall_options(self) -> dict[str, Any]:
        """The values of the :class:`RecallOptions` fields only (never a subclass's own fields)."""
        return {name: getattr(self, name) for name in RecallOptions.model_fields}

    def to_request(
        self,
        query: str,
        *,
        user_id: str,
        session_id: str | None = None,
        cube_ids: Sequence[str] | None = None,
        chat_history: Sequence[ChatMessage] | None = None,
    ) -> RecallRequest:
        """A validated :class:`RecallRequest` for ``query`` with these options (per-call
        ``session_id`` / ``cube_ids`` win over the fields).

        Raises:
            InvalidRequestError: the query, the owner or an option is not valid.
        """
        values = self.recall_options()
        if session_id is not None:
            values["session_id"] = session_id
        if cube_ids is not None:
            values["cube_ids"] = list(cube_ids)
        try:
            return RecallRequest(query=query, user_id=user_id, chat_history=list(chat_history or []) or None,
                                 **values)
        except ValueError as exc:
            raise InvalidRequestError(f"invalid recall request: {exc}") from exc


#: Fields of :class:`RecallRequest` that are not options (given per call).
NON_OPTION_FIELDS = frozenset({"query", "user_id", "chat_history"})


class RecallRequest(RecallOptions):
    """Recall for a query (MemOS search / MemnetAI ``/v1/recall``)."""

    query: str = Field(min_length=1, max_length=60_000)
    user_id: str = Field(min_length=1, max_length=256)
    chat_history: list[ChatMessage] | None = None

    @model_validator(mode="after")
    def _hard_limits(self) -> RecallRequest:
        _checked(self)
        return self

    @property
    def readable_cube_ids(self) -> list[str]:
        return list(dict.fromkeys(self.cube_ids or [self.user_id]))


class RecallItem(BaseModel):
    record: MemoryRecord
    score: float  # final ranking score
    relativity: float  # absolute relevance in [0, 1], comparable across cubes and modes
    impression: float = 1.0  # decayed impression at recall time
    linked_from: str | None = None  # id of the invalid memory this newer one was reached from
    #: The weighted contributions that sum to ``score`` (keys: see
    #: :data:`memos_integrations.pipeline.recall.SCORE_PARTS`), for inspectors and debugging.
    score_parts: dict[str, float] = Field(default_factory=dict)


class AssociationNode(BaseModel):
    id: str
    name: str


class AssociationLink(BaseModel):
    source_id: str
    source_name: str
    target_id: str
    target_name: str
    distance: int
    relations: list[dict[str, Any]] = Field(default_factory=list)  # [{relation, maxImpression}]


class AssociationGraph(BaseModel):
    nodes: list[AssociationNode] = Field(default_factory=list)
    links: list[AssociationLink] = Field(default_factory=list)


class RecallResult(BaseModel):
    query: str
    language: str = "en"
    mode: str = "fast"
    facts: list[RecallItem] = Field(default_factory=list)
    preferences: list[RecallItem] = Field(default_factory=list)
    tools: list[RecallItem] = Field(default_factory=list)
    skills: list[RecallItem] = Field(default_factory=list)
    knowledge: list[RecallItem] = Field(default_factory=list)
    associations: list[AssociationGraph] = Field(default_factory=list)
    memory_prompt: str = ""
    preference_note: str = ""
    time_window: tuple[datetime, datetime] | None = None
    time_cue: str | None = None  # the words in the query that set time_window
    reference_time: datetime | None = None
    rewritten_query: str | None = None  # fine/mixture: the query after the LLM rewrite
    max_impression: float = 0.0
    llm_calls: int = 0
    warnings: list[str] = Field(default_factory=list)

    @property
    def all_items(self) -> list[RecallItem]:
        return [*self.facts, *self.preferences, *self.tools, *self.skills]
