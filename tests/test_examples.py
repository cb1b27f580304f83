"""The LangGraph, LangChain and LlamaIndex examples run end to end (subprocess, own embedded Weaviate on a temp
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


#: LangGraph examples -> a line their output must contain
LANGGRAPH_EXAMPLES = {
    "langgraph_chatbot.py": "memory prompt not persisted",
    "langgraph_subgraph_agent.py": "tool memories:",
    "langgraph_store_agent.py": "namespaces:",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_example(name: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
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
    return proc


@pytest.mark.parametrize("name", sorted(LANGGRAPH_EXAMPLES))
def test_langgraph_example_runs(name: str, tmp_path: Path) -> None:
    """fake LLM (offline default of the examples), real embedded Weaviate."""
    proc = _run_example(name, tmp_path)
    assert LANGGRAPH_EXAMPLES[name] in proc.stdout


@pytest.mark.parametrize("name", sorted(FRAMEWORK_EXAMPLES))
def test_framework_example_runs(name: str, tmp_path: Path) -> None:
    proc = _run_example(name, tmp_path)
    assert FRAMEWORK_EXAMPLES[name] in proc.stdout
    assert "From memory:" in proc.stdout  # a fact from one conversation reached another


@pytest.mark.parametrize(("language", "expected"), [("en", "peanuts"), ("zh", "乳糖")])
def test_demo_recalls_what_it_memorized(language: str, expected: str, tmp_path: Path) -> None:
    """The README's main job (``memos-integrations demo``) on the embedded default with the real
    embedding model: the memories it stores are recalled, ranked, with their scores, and reach the
    memoryPrompt (an old chat_time does not make them forgotten on arrival)."""
    env = {**os.environ, "MEMOS_DATA_DIR": str(tmp_path / "data"), "MEMOS_EMBEDDED_HTTP_PORT": str(_free_port()),
           "MEMOS_EMBEDDED_GRPC_PORT": str(_free_port()), "PYTHONUNBUFFERED": "1"}
    for key in ("WEAVIATE_URL", "CHAT_MODEL_LIST", "MEMOS_CHAT_MODEL_LIST"):
        env.pop(key, None)
    proc = subprocess.run([sys.executable, "-m", "memos_integrations.cli", "demo", "--language", language],
                          check=False, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    ranked = [line for line in proc.stdout.splitlines() if line.strip()[:1].isdigit() and "  fact  " in line]
    assert ranked, proc.stdout
    scores = [float(line.split()[1]) for line in ranked]
    assert scores == sorted(scores, reverse=True)
    prompt = proc.stdout.split("--- memoryPrompt ---", 1)[1]
    assert expected in prompt
