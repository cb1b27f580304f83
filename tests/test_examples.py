"""The LangChain / LlamaIndex examples run end to end (subprocess, own embedded Weaviate on a temp
data dir and free ports, fake LLMs, offline)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

#: example file -> a line its output must contain
FRAMEWORK_EXAMPLES = {
    "langchain_memory.py": "LANGCHAIN EXAMPLE OK",
    "llama_index_memory.py": "LLAMA_INDEX EXAMPLE OK",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("name", sorted(FRAMEWORK_EXAMPLES))
def test_framework_example_runs(name: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MEMOS_DATA_DIR": str(tmp_path / "data"),
        "MEMOS_EMBEDDED_HTTP_PORT": str(_free_port()),
        "MEMOS_EMBEDDED_GRPC_PORT": str(_free_port()),
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    for key in ("WEAVIATE_URL", "CHAT_MODEL_LIST", "MEMOS_CHAT_MODEL_LIST"):
        env.pop(key, None)  # examples run offline with fakes
    proc = subprocess.run([sys.executable, str(EXAMPLES / name)], check=False, env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    assert FRAMEWORK_EXAMPLES[name] in proc.stdout
    assert "From memory:" in proc.stdout  # a fact from one conversation reached another
