"""Import and export through the public functions and the CLI, on the real Weaviate: an export
imported into an empty store gives the same recall; every conversation format imports; importing
twice adds nothing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from memos_integrations.config import Settings
from memos_integrations.domain.models import MemoryStatus
from memos_integrations.domain.requests import MemorizeRequest, RecallRequest
from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import InvalidRequestError
from memos_integrations.llm.embeddings import HashEmbeddings
from memos_integrations.storage.store import MemoryStore
from memos_integrations.transfer import detect_format, export_cubes, import_file


def _engine(weaviate_client: Any, prefix: str) -> MemoryEngine:
    store = MemoryStore(weaviate_client, prefix=prefix)
    store.setup()
    return MemoryEngine(store, HashEmbeddings(dim=128), settings=Settings(), start_tasks=False)


def _ranked(engine: MemoryEngine, user: str, query: str) -> list[tuple[str, float]]:
    result = engine.recall(RecallRequest(user_id=user, query=query, relativity=0, reinforce=False))
    return [(item.record.id, round(item.score, 5)) for item in result.facts]


def test_export_then_import_into_an_empty_store_gives_the_same_recall(weaviate_client: Any, tmp_path: Path) -> None:
    source = _engine(weaviate_client, f"XferA{uuid.uuid4().hex[:6]}")
    target = _engine(weaviate_client, f"XferB{uuid.uuid4().hex[:6]}")
    user = "ada"
    source.memorize(MemorizeRequest(user_id=user, messages=[
        {"role": "user", "content": "I moved to Lisbon last spring", "chat_time": "2025-04-02T10:00:00Z"},
        {"role": "assistant", "content": "Lisbon is lovely in spring."},
        {"role": "user", "content": "My sister Ana lives in Porto"},
        {"role": "user", "content": "我最喜欢的茶是乌龙茶"},
    ]))
    moved = next(m for m in source.list_memories(user) if "Lisbon last spring" in m.memory)
    newer = next(m for m in source.list_memories(user) if "Porto" in m.memory)
    source.update_memory(moved.id, status=MemoryStatus.INVALID, reason="test: superseded")
    out = tmp_path / "ada.jsonl"
    assert export_cubes(source, [user], out, progress=False) == 4
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    exported = {line["id"]: line for line in lines}
    assert exported[moved.id]["status"] == "invalid" and exported[moved.id]["change_log"]
    assert exported[newer.id]["vector"]

    summary = import_file(target, out, progress=False)
    assert (summary.format, summary.read, summary.added, summary.skipped) == ("memories", 4, 4, 0)
    for query in ("where does my sister live", "乌龙茶", "Lisbon spring"):
        theirs, ours = _ranked(source, user, query), _ranked(target, user, query)
        assert [i for i, _ in ours] == [i for i, _ in theirs]
        # BM25 statistics of the source still count the replaced version of the edited memory until
        # Weaviate compacts, so scores may differ in the 4th decimal
        assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], abs=2e-3)
    assert target.get_memory(moved.id).change_log == source.get_memory(moved.id).change_log  # type: ignore[union-attr]
    again = import_file(target, out, progress=False)
    assert (again.added, again.skipped) == (0, 4) and target.count_memories(user, statuses=None) == 4


LOCOMO = {"speaker_a": "Caroline", "speaker_b": "Melanie",
          "session_1_date_time": "1:56 pm on 8 May, 2023",
          "session_1": [{"speaker": "Caroline", "dia_id": "D1:1", "text": "I went to a support group yesterday."},
                        {"speaker": "Melanie", "dia_id": "D1:2", "text": "That sounds brave, Caroline!"}],
          "session_2_date_time": "1:14 pm on 25 May, 2023",
          "session_2": [{"speaker": "Melanie", "dia_id": "D2:1", "text": "I painted a lake sunrise last week."}]}


@pytest.mark.parametrize(("name", "content", "user", "query", "expected"), [
    ("conv.json", LOCOMO, "Caroline_Melanie", "support group", "support group"),
    ("add.jsonl", [{"user_id": "bo", "session_id": "s1", "messages": [{"role": "user", "content": "I keep bees"}]},
                   {"user_id": "bo", "messages": "My bees make heather honey"}], "bo", "bees honey", "heather honey"),
    ("memnet.json", {"memoryAgentName": "cy", "messages": [{"role": "user", "content": "我住在柏林", "character": "Cy"}]},
     "cy", "柏林", "我住在柏林"),
    ("mem0.json", {"results": [{"id": "m1", "memory": "Prefers aisle seats", "user_id": "di",
                                "created_at": "2025-01-02T03:04:05Z", "hash": "h"}]}, "di", "aisle seats", "aisle"),
])
def test_conversation_formats_import_once(weaviate_client: Any, tmp_path: Path, name: str, content: Any, user: str,
                                          query: str, expected: str) -> None:
    engine = _engine(weaviate_client, f"XferC{uuid.uuid4().hex[:6]}")
    path = tmp_path / name
    if name.endswith(".jsonl"):
        path.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in content))
    else:
        path.write_text(json.dumps(content, ensure_ascii=False))
    first = import_file(engine, path, progress=False)
    assert first.added > 0 and user in first.cubes
    stored = engine.count_memories(user, statuses=None)
    hits = engine.recall(RecallRequest(user_id=user, query=query, relativity=0)).facts
    assert any(expected in item.record.memory for item in hits), [i.record.memory for i in hits]
    second = import_file(engine, path, progress=False)
    assert second.added == 0 and engine.count_memories(user, statuses=None) == stored


def test_unknown_or_broken_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError, match="--format"):
        detect_format([{"something": 1}])
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"a": 1}\nnot json\n')
    with pytest.raises(InvalidRequestError, match="broken.jsonl:2: not JSON"):
        import_file(None, broken)  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_import_and_export_as_the_readme_prints(tmp_path: Path) -> None:
    """``memos-integrations import`` / ``export`` on the embedded default (real embedding model)."""
    env = {**os.environ, "MEMOS_DATA_DIR": str(tmp_path / "data"), "MEMOS_EMBEDDED_HTTP_PORT": str(_free_port()),
           "MEMOS_EMBEDDED_GRPC_PORT": str(_free_port())}
    conv = tmp_path / "conv.json"
    conv.write_text(json.dumps(LOCOMO))
    cli = [sys.executable, "-m", "memos_integrations.cli"]
    imported = subprocess.run([*cli, "import", str(conv), "--user", "caro"], env=env, capture_output=True, text=True,
                              timeout=300, check=False)
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert "locomo: read 3, added 3 memories" in imported.stdout
    out = tmp_path / "caro.jsonl"
    exported = subprocess.run([*cli, "export", "--cube", "caro", "--out", str(out)], env=env, capture_output=True,
                              text=True, timeout=300, check=False)
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert "Exported 3 memories of 1 cube(s)" in exported.stdout
    assert {json.loads(line)["cube_id"] for line in out.read_text().splitlines()} == {"caro"}
