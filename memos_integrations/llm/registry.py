"""Chat models configured by name (``CHAT_MODEL_LIST``, seed 001's JSON format).

Every backend in the list is OpenAI-compatible (qwen, deepseek, vllm, ollama ...): it is driven
through ``langchain_openai.ChatOpenAI`` (install the ``openai`` extra).
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel

from memos_integrations.config import ChatModelConfig
from memos_integrations.errors import ConfigurationError, ModelNotFoundError


class ChatModelRegistry:
    """Name -> chat model, built lazily and cached."""

    def __init__(self, configs: list[ChatModelConfig] | list[dict[str, Any]] | None = None,
                 models: dict[str, BaseChatModel] | None = None, *, timeout: float | None = None) -> None:
        """``timeout``: seconds one call may take (default ``MEMOS_MODEL_TIMEOUT``)."""
        if timeout is None:
            from memos_integrations.config import get_settings

            timeout = get_settings().model_timeout
        self.timeout = timeout
        self.configs = [c if isinstance(c, ChatModelConfig) else ChatModelConfig(**c) for c in (configs or [])]
        self._models: dict[str, BaseChatModel] = dict(models or {})

    def names(self) -> list[str]:
        names = list(self._models)
        for config in self.configs:
            for name in [config.model_name_or_path, *config.support_models]:
                if name not in names:
                    names.append(name)
        return names

    def __bool__(self) -> bool:
        return bool(self._models or self.configs)

    def default(self) -> BaseChatModel:
        names = self.names()
        if not names:
            raise ConfigurationError(
                "no chat model is configured: set CHAT_MODEL_LIST (e.g. "
                '[{"backend":"openai","api_base":"http://127.0.0.1:8000/v1","api_key":"x",'
                '"model_name_or_path":"my-model"}]) or pass chat_model='
            )
        return self.get(names[0])

    def get(self, name: str | None, **overrides: Any) -> BaseChatModel:
        if not name:
            model = self.default()
            return model.bind(**overrides) if overrides else model  # type: ignore[return-value]
        if name not in self._models:
            config = next((c for c in self.configs if name == c.model_name_or_path or name in c.support_models), None)
            if config is None:
                raise ModelNotFoundError(f"unknown model '{name}'; known models: {self.names()}")
            self._models[name] = self._build(config, name)
        model = self._models[name]
        return model.bind(**overrides) if overrides else model  # type: ignore[return-value]

    def _build(self, config: ChatModelConfig, name: str) -> BaseChatModel:
        try:
            from langchain_openai import ChatOpenAI
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise ConfigurationError(
                "CHAT_MODEL_LIST backends need langchain-openai: pip install 'memos-integrations[openai]'"
            ) from exc
        return ChatOpenAI(model=name, base_url=config.api_base, api_key=config.api_key or "none",  # type: ignore[arg-type]
                          max_retries=1, timeout=self.timeout)
