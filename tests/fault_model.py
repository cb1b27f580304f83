"""A switchable fake LLM for the fault-injection tests: an OpenAI-compatible chat-completions stub
on a free loopback port whose behaviour is switched at run time.

Modes: ``ok`` (a valid extraction answer naming the ``TOKEN-...`` found in the prompt),
``garbage`` (prose, no JSON), ``error500`` (HTTP 500), ``slow`` (answers ``ok`` after
``delay`` seconds) and ``hang`` (never answers within any sane deadline). Every request is
recorded with the tokens its prompt mentions, so tests can count how often each piece of work
reached the model (nothing run twice).
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Self

import httpx

TOKEN = re.compile(r"TOKEN-[A-Za-z0-9]+")


class FakeModel:
    """The stub server (fake LLM). Use as a context manager; ``url`` is its ``/v1`` base."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self.tokens: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                outer._answer(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def model_list(self) -> list[dict[str, Any]]:
        """``CHAT_MODEL_LIST`` pointing at this stub."""
        return [{"backend": "openai", "api_base": self.url, "api_key": "stub", "model_name_or_path": "fake-model"}]

    def set(self, mode: str, delay: float = 0.0) -> None:
        self.mode, self.delay = mode, delay
        if mode != "hang":
            self._release.set()
        else:
            self._release.clear()

    def extraction_calls(self) -> Counter[str]:
        """How many extraction requests mentioned each token."""
        return Counter(self.tokens)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    # -- answering ----------------------------------------------------------------------------

    def _answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        prompt = "\n".join(str(m.get("content")) for m in body.get("messages", []))
        tokens = sorted(set(TOKEN.findall(prompt)))
        extraction = "reconcil" not in prompt.lower() and "duplicate" not in prompt.lower()
        with self._lock:
            self.requests.append(body)
            if extraction:
                self.tokens.update(tokens)
        mode = self.mode
        if mode == "hang":
            self._release.wait(120)
            mode = self.mode if self.mode != "hang" else "ok"
        if mode == "slow":
            time.sleep(self.delay)
        if mode == "error500":
            self._send(handler, 500, {"error": {"message": "the fake model crashed", "type": "server_error"}})
            return
        if mode == "garbage":
            text = "I'm sorry, I cannot help with JSON today."
        else:
            facts = [{"key": t, "value": f"The user mentioned {t}", "memory_type": "UserMemory",
                      "message_indexes": [0]} for t in tokens] or [
                {"key": "note", "value": "The user said something", "memory_type": "UserMemory", "message_indexes": [0]}]
            text = json.dumps({"summary": "stub summary", "facts": facts})
        self._send(handler, 200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake-model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (deadline)
            pass


MODEL_TIMEOUT = 2.0


@contextlib.contextmanager
def served_app(weaviate_client: Any, **overrides: Any) -> Iterator[SimpleNamespace]:
    """The HTTP app on a real port over the session Weaviate (fresh collections), with keys for
    alice, bob and admin and the switchable fake LLM as its chat model (short deadline and task
    backoff). Yields ``http`` (a client), ``url``, ``engine``, ``fake``, ``alice``, ``bob``."""
    from conftest import _ThreadedUvicorn

    from memos_integrations.config import Settings, get_settings
    from memos_integrations.engine import MemoryEngine
    from memos_integrations.llm.embeddings import HashEmbeddings
    from memos_integrations.llm.registry import ChatModelRegistry
    from memos_integrations.pipeline.extract import configure_model_calls
    from memos_integrations.server.app import create_app
    from memos_integrations.storage.store import MemoryStore

    run = uuid.uuid4().hex[:8]
    alice, bob = f"alice_{run}", f"bob_{run}"
    keys = {"key-alice": {"users": [alice]}, "key-bob": {"users": [bob]}, "key-admin": {"users": ["*"]}}
    with FakeModel() as fake:
        values: dict[str, Any] = {
            "MEMOS_API_KEYS": keys, "CHAT_MODEL_LIST": fake.model_list(), "MEMOS_DATA_DIR": Path(tempfile.mkdtemp()),
            "MEMOS_MODEL_TIMEOUT": MODEL_TIMEOUT, "MEMOS_MODEL_MAX_CONCURRENCY": 4,
            "MEMOS_TASK_RETRY_BASE_SECONDS": 0.3, "MEMOS_TASK_RETRY_MAX_SECONDS": 1.0,
            "MEMOS_TASK_SWEEP_SECONDS": 0.3, "MEMOS_TASK_MAX_ATTEMPTS": 3, **overrides}
        settings = Settings(**values)
        store = MemoryStore(weaviate_client, prefix=f"Rel{run}")
        store.setup()
        model = ChatModelRegistry(settings.chat_model_list, timeout=settings.model_timeout).default()
        engine = MemoryEngine(store, HashEmbeddings(dim=256), model, settings=settings)
        app = create_app(engine, settings)
        try:
            with _ThreadedUvicorn(app) as server, httpx.Client(base_url=server.url, timeout=60) as http:
                yield SimpleNamespace(http=http, url=server.url, engine=engine, fake=fake, alice=alice, bob=bob)
        finally:
            engine.tasks.close()
            defaults = get_settings()
            configure_model_calls(defaults.model_timeout, defaults.model_max_concurrency)
            store.drop()
