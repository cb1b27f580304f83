"""Settings, read from the environment and a ``.env`` file (pydantic-settings).

Unset ``WEAVIATE_URL`` means Weaviate Embedded on ``MEMOS_DATA_DIR``.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The one pinned Weaviate server version (embedded mode and the Go build).
WEAVIATE_VERSION = "1.38.14"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("memos-integrations"))


def default_binary_dir() -> Path:
    """Where the weaviate-client embedded mode looks for its binary by default."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "weaviate-embedded"


class ChatModelConfig(BaseSettings):
    """One entry of ``CHAT_MODEL_LIST`` (seed 001's format)."""

    model_config = SettingsConfigDict(extra="allow")

    backend: str = "openai"
    api_base: str | None = None
    api_key: str | None = None
    model_name_or_path: str
    support_models: list[str] = Field(default_factory=list)


class RankWeights(BaseModel):
    """Weights of recall's ranking score (one set for every data set and language; tuned on the
    dev sets, see BENCHMARKS.md). Set with ``MEMOS_RANK_WEIGHTS`` as JSON, e.g. ``{"time": 0.2}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vector: float = 0.60
    bm25: float = 0.40
    bm25_k: float = Field(default=10.0, gt=0, description="BM25 score at which the lexical signal counts half")
    bm25_relativity: float = Field(default=0.5, description="how much a perfect lexical match lifts relativity")
    impression: float = 0.02
    session: float = 0.05
    time: float = 0.15
    speaker: float = Field(default=0.06, description="the memory's speaker (character) is named in the query")
    character: float = Field(default=0.04, description="the memory is by or about the request's character")
    neighbour: float = Field(default=0.20, description="share of the best nearby turn's score a raw turn inherits")
    neighbour_reach: int = Field(default=3, ge=1, le=8, description="turns on each side of the stored session "
                                 "that count as nearby")
    neighbour_decay: float = Field(default=0.7, ge=0.0, le=1.0,
                                   description="factor per extra turn of distance beyond the first")
    linked: float = Field(default=0.02, description="newer memory reached from an invalid one")
    expand_top: int = Field(default=5, ge=0, le=20, description="best raw turns whose adjacent stored turns "
                            "join the candidates (second hop over the stored session)")
    expand_prev: bool = Field(default=True, description="also the turn before each of them")
    answer: float = Field(default=0.6, description="share of a question turn's score the turn after it "
                          "(its reply) inherits when the reply's speaker is named in the query")
    self_reference: float = Field(default=0.10, description="a first-person query (I, my, 我) and a memory of "
                                  "what the user said (memory type UserMemory)")
    mmr_lambda: float = 0.75
    # Memory-memory similarity is judged on the embedder's calibrated range (lo, hi): MMR starts to
    # penalise at hi + mmr_floor * (1 - hi) and a pair counts as the same memory from
    # hi + near_duplicate * (1 - hi) (multilingual-e5-small: cosine 0.98 and 0.99). Distinct turns of
    # one conversation are often 0.90-0.95 apart with e5, and penalising those cost 15 points of
    # recall@10 on the dev sets, so only (near) repeats are touched.
    mmr_floor: float = 0.8
    near_duplicate: float = 0.93


class Settings(BaseSettings):
    """All runtime settings. Every field has an environment variable (shown in ``alias``)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    weaviate_url: str | None = Field(default=None, validation_alias="WEAVIATE_URL")
    weaviate_api_key: str | None = Field(default=None, validation_alias="WEAVIATE_API_KEY")
    weaviate_grpc_port: int | None = Field(default=None, validation_alias="WEAVIATE_GRPC_PORT")
    weaviate_grpc_host: str | None = Field(default=None, validation_alias="WEAVIATE_GRPC_HOST")
    #: Copies of every collection in a Weaviate cluster, applied when a collection is created
    #: (``MemoryStore.setup``). Unset: 3 when the cluster has 3 or more nodes, else 1.
    replication_factor: int | None = Field(default=None, ge=1, validation_alias="MEMOS_REPLICATION_FACTOR")
    #: Consistency level of every read and write (``ONE``, ``QUORUM``, ``ALL``): QUORUM reads and
    #: writes overlap (r + w > n), so a read sees every acknowledged write, and one node of three
    #: may be down. See the README's "Running against a Weaviate cluster".
    consistency_level: Literal["ONE", "QUORUM", "ALL"] = Field(
        default="QUORUM", validation_alias="MEMOS_CONSISTENCY_LEVEL")

    data_dir: Path = Field(default_factory=default_data_dir, validation_alias="MEMOS_DATA_DIR")
    weaviate_binary_dir: Path = Field(
        default_factory=default_binary_dir, validation_alias="MEMOS_WEAVIATE_BINARY_DIR"
    )
    #: Where the embedded server's ``backup-filesystem`` module writes backups (default
    #: ``<MEMOS_DATA_DIR>/backups``); point it at another store's backups to restore them.
    backup_dir: Path | None = Field(default=None, validation_alias="MEMOS_BACKUP_DIR")
    embedded_http_port: int = Field(default=8079, validation_alias="MEMOS_EMBEDDED_HTTP_PORT")
    embedded_grpc_port: int = Field(default=50060, validation_alias="MEMOS_EMBEDDED_GRPC_PORT")
    embedded_startup_timeout: float = Field(default=60.0, validation_alias="MEMOS_EMBEDDED_STARTUP_TIMEOUT")
    #: The Weaviate server version embedded mode runs (its binary must be installed:
    #: ``memos-integrations weaviate install --version X``); default the pinned one.
    weaviate_version: str = Field(default=WEAVIATE_VERSION, validation_alias="MEMOS_WEAVIATE_VERSION")

    chat_model_list: list[ChatModelConfig] = Field(
        default_factory=list, validation_alias=AliasChoices("CHAT_MODEL_LIST", "MEMOS_CHAT_MODEL_LIST")
    )
    api_keys: dict[str, dict[str, Any]] = Field(default_factory=dict, validation_alias="MEMOS_API_KEYS")

    max_content_chars: int = Field(default=192, validation_alias="MEMOS_MAX_CONTENT_CHARS")

    # recall and memorize tuning (defaults measured on the dev sets; see BENCHMARKS.md)
    rank_weights: RankWeights = Field(default_factory=RankWeights, validation_alias="MEMOS_RANK_WEIGHTS")
    #: Hybrid candidates fetched per cube (at least 3x the largest per-kind limit is used).
    recall_candidates: int = Field(default=60, ge=1, le=1000, validation_alias="MEMOS_RECALL_CANDIDATES")
    #: The embedder's cosine calibration ``[lo, hi]`` (below lo unrelated, hi a paraphrase);
    #: unset = the embedder's own (known models) or the raw cosine.
    relativity_range: tuple[float, float] | None = Field(default=None, validation_alias="MEMOS_RELATIVITY_RANGE")
    #: Minimum memory-memory similarity (the embedder's calibration, see pipeline/calibration.py)
    #: for a stored memory to be compared with a new one during reconciliation.
    reconcile_threshold: float = Field(default=0.5, ge=0.0, le=1.0, validation_alias="MEMOS_RECONCILE_THRESHOLD")
    #: MemnetAI sync memorize answers within 200 s: the chat model gets this long, then the raw
    #: memories stand alone and the enrichment becomes a task (``MemoryEngine.memorize_resilient``).
    sync_model_timeout: float = Field(default=150.0, gt=0, validation_alias="MEMOS_SYNC_MODEL_TIMEOUT")
    #: Fast mode blends each turn's vector with the reply that follows it.
    contextual_vectors: bool = Field(default=True, validation_alias="MEMOS_CONTEXTUAL_VECTORS")
    contextual_weight: float = Field(default=0.3, ge=0.0, le=1.0, validation_alias="MEMOS_CONTEXTUAL_WEIGHT")
    #: ... and with the session's previous stored turn (whose vector carries the turns before it).
    contextual_prev_weight: float = Field(default=0.0, ge=0.0, le=1.0, validation_alias="MEMOS_CONTEXTUAL_PREV_WEIGHT")
    #: A common-sense cube every recall also reads (MemnetAI's global common-sense database).
    global_common_sense_cube: str | None = Field(default=None, validation_alias="MEMOS_GLOBAL_COMMON_SENSE_CUBE")
    #: Internet search for MemOS ``internet_search``: ``"module:attribute"`` naming a LangChain
    #: ``BaseRetriever`` or ``BaseTool`` (or a zero-argument factory of one). None: off.
    internet_search: str | None = Field(default=None, validation_alias="MEMOS_INTERNET_SEARCH")
    #: Forgetting curve: days for an untouched memory's impression to fall to 1/e of its height.
    base_stability_days: float = Field(default=30.0, gt=0, validation_alias="MEMOS_BASE_STABILITY_DAYS")
    task_workers: int = Field(default=2, validation_alias="MEMOS_TASK_WORKERS")
    #: Cubes kept loaded in Weaviate; least recently used ones beyond this are set INACTIVE
    #: (reactivated on their next use). 0 = never deactivate.
    max_active_cubes: int = Field(default=200, ge=0, validation_alias="MEMOS_MAX_ACTIVE_CUBES")
    #: Compression of the memory vectors in Weaviate's HNSW index (applied when the Memory
    #: collection is created; an existing store keeps its index): ``rq`` (rotational quantization,
    #: 8 bits per dimension, rescored with the full vectors: no recall@10 cost on the dev sets and
    #: ~30% less Weaviate memory at 200k memories), ``none``, ``bq`` (binary) or ``pq`` (product;
    #: trains once a cube holds 100k vectors). See benchmarks/results/notes.md (perf, issue 16).
    vector_compression: Literal["none", "rq", "bq", "pq"] = Field(
        default="rq", validation_alias="MEMOS_VECTOR_COMPRESSION")
    #: Fast-mode async memorize (``sync=False``, ``async_mode`` async): ``immediate`` writes the raw
    #: memories without vectors at once (BM25-searchable on return) and a durable task adds the
    #: vectors (pipeline/ingest.py); ``task`` stores nothing until the task has embedded them.
    async_ingest: Literal["immediate", "task"] = Field(default="immediate", validation_alias="MEMOS_ASYNC_INGEST")

    # reliability: deadlines, leases, retries (see the README's reliability section)
    #: Seconds one chat-model call may take (the HTTP timeout of ``CHAT_MODEL_LIST`` models and a
    #: hard deadline on every extraction / reconciliation call); then ``ModelUnavailableError``.
    model_timeout: float = Field(default=60.0, gt=0, validation_alias="MEMOS_MODEL_TIMEOUT")
    #: Chat-model calls running at once in one process; a call beyond it fails at once with
    #: ``ModelUnavailableError`` (back-pressure: model work never holds every server thread).
    model_max_concurrency: int = Field(default=8, ge=1, validation_alias="MEMOS_MODEL_MAX_CONCURRENCY")
    #: Weaviate client timeouts (seconds): connecting / readiness, reads and queries, writes.
    weaviate_init_timeout: float = Field(default=5.0, gt=0, validation_alias="MEMOS_WEAVIATE_INIT_TIMEOUT")
    weaviate_query_timeout: float = Field(default=15.0, gt=0, validation_alias="MEMOS_WEAVIATE_QUERY_TIMEOUT")
    weaviate_insert_timeout: float = Field(default=60.0, gt=0, validation_alias="MEMOS_WEAVIATE_INSERT_TIMEOUT")
    #: Seconds a request waits for an unreachable Weaviate (readiness probe) before answering 503.
    weaviate_probe_timeout: float = Field(default=2.0, gt=0, validation_alias="MEMOS_WEAVIATE_PROBE_TIMEOUT")
    #: A task's lease (seconds, renewed while it runs): a claim not renewed for this long is re-run.
    task_lease_seconds: float = Field(default=120.0, gt=0, validation_alias="MEMOS_TASK_LEASE_SECONDS")
    #: Runs of a task failing transiently (model / Weaviate down) before it is marked failed.
    task_max_attempts: int = Field(default=5, ge=1, validation_alias="MEMOS_TASK_MAX_ATTEMPTS")
    #: Backoff of transient task failures: base * 2**(attempt-1) seconds, at most the max.
    task_retry_base_seconds: float = Field(default=5.0, ge=0, validation_alias="MEMOS_TASK_RETRY_BASE_SECONDS")
    task_retry_max_seconds: float = Field(default=300.0, ge=0, validation_alias="MEMOS_TASK_RETRY_MAX_SECONDS")
    #: How often each process looks for due retries and lapsed leases.
    task_sweep_seconds: float = Field(default=5.0, gt=0, validation_alias="MEMOS_TASK_SWEEP_SECONDS")
    #: Seconds a graceful shutdown (SIGTERM / SIGINT) waits for in-flight requests.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, validation_alias="MEMOS_SHUTDOWN_GRACE_SECONDS")
    #: Server logs: ``json`` (one JSON object a line, with ``request_id``) or ``text``.
    log_format: Literal["json", "text"] = Field(default="json", validation_alias="MEMOS_LOG_FORMAT")
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info", validation_alias="MEMOS_LOG_LEVEL")
    #: The memory inspector at ``/ui``: unset = on when ``MEMOS_API_KEYS`` is set (the key decides
    #: what it shows), off on an open server (no keys); true = on (open server: loopback ``Host``
    #: only); false = off.
    ui_enabled: bool | None = Field(default=None, validation_alias="MEMOS_UI_ENABLED")

    @field_validator("chat_model_list", "api_keys", "rank_weights", "relativity_range", mode="before")
    @classmethod
    def _parse_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None
            return json.loads(value)
        return value

    @property
    def embedded(self) -> bool:
        return not self.weaviate_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; call ``get_settings.cache_clear()`` after changing env)."""
    return Settings()
