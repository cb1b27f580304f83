"""Settings, read from the environment and a ``.env`` file (pydantic-settings).

Unset ``WEAVIATE_URL`` means Weaviate Embedded on ``MEMOS_DATA_DIR``.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The one pinned Weaviate server version (embedded mode and the Go build).
WEAVIATE_VERSION = "1.35.22"


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


class Settings(BaseSettings):
    """All runtime settings. Every field has an environment variable (shown in ``alias``)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    weaviate_url: str | None = Field(default=None, validation_alias="WEAVIATE_URL")
    weaviate_api_key: str | None = Field(default=None, validation_alias="WEAVIATE_API_KEY")
    weaviate_grpc_port: int | None = Field(default=None, validation_alias="WEAVIATE_GRPC_PORT")
    weaviate_grpc_host: str | None = Field(default=None, validation_alias="WEAVIATE_GRPC_HOST")

    data_dir: Path = Field(default_factory=default_data_dir, validation_alias="MEMOS_DATA_DIR")
    weaviate_binary_dir: Path = Field(
        default_factory=default_binary_dir, validation_alias="MEMOS_WEAVIATE_BINARY_DIR"
    )
    embedded_http_port: int = Field(default=8079, validation_alias="MEMOS_EMBEDDED_HTTP_PORT")
    embedded_grpc_port: int = Field(default=50060, validation_alias="MEMOS_EMBEDDED_GRPC_PORT")
    embedded_startup_timeout: float = Field(default=60.0, validation_alias="MEMOS_EMBEDDED_STARTUP_TIMEOUT")

    chat_model_list: list[ChatModelConfig] = Field(
        default_factory=list, validation_alias=AliasChoices("CHAT_MODEL_LIST", "MEMOS_CHAT_MODEL_LIST")
    )
    api_keys: dict[str, dict[str, Any]] = Field(default_factory=dict, validation_alias="MEMOS_API_KEYS")

    max_content_chars: int = Field(default=192, validation_alias="MEMOS_MAX_CONTENT_CHARS")
    task_workers: int = Field(default=2, validation_alias="MEMOS_TASK_WORKERS")
    #: Cubes kept loaded in Weaviate; least recently used ones beyond this are set INACTIVE
    #: (reactivated on their next use). 0 = never deactivate.
    max_active_cubes: int = Field(default=200, ge=0, validation_alias="MEMOS_MAX_ACTIVE_CUBES")

    @field_validator("chat_model_list", "api_keys", mode="before")
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
