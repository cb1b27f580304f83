"""Backups with Weaviate's backup module on the embedded server: a backup restored into an EMPTY
data directory gives identical recall (real servers, real embedding model through the CLI)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from memos_integrations.config import Settings
from memos_integrations.domain.requests import MemorizeRequest, RecallRequest
from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import InvalidRequestError
from memos_integrations.storage import embedded


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _settings(data_dir: Path, backup_dir: Path) -> Settings:
    return Settings(MEMOS_DATA_DIR=data_dir, MEMOS_BACKUP_DIR=backup_dir, MEMOS_EMBEDDED_HTTP_PORT=_free_port(),
                    MEMOS_EMBEDDED_GRPC_PORT=_free_port())


def _stop(settings: Settings) -> None:
    server = embedded._servers.pop((str(settings.data_dir), settings.embedded_http_port), None)
    if server is not None:
        server.stop()


def _ranked(engine: MemoryEngine, query: str) -> list[tuple[str, float]]:
    found = engine.recall(RecallRequest(user_id="ada", query=query, relativity=0, reinforce=False))
    return [(item.record.id, round(item.score, 5)) for item in found.facts]


def test_backup_restored_into_an_empty_data_dir_recalls_the_same(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    source = _settings(tmp_path / "source", backups)
    engine = MemoryEngine.from_settings(source, start_tasks=False)
    try:
        engine.memorize(MemorizeRequest(user_id="ada", messages=[
            {"role": "user", "content": "I moved to Lisbon last spring"},
            {"role": "user", "content": "My sister Ana lives in Porto"},
            {"role": "user", "content": "我最喜欢的茶是乌龙茶"},
        ]))
        queries = ["where does my sister live", "乌龙茶", "Lisbon"]
        before = {q: _ranked(engine, q) for q in queries}
        created = engine.create_backup("ada-1")
        assert created["status"] == "SUCCESS" and "MemosMemory" in created["collections"]
        assert [b["id"] for b in engine.list_backups()] == ["ada-1"]
    finally:
        engine.close()
        _stop(source)

    # an empty data dir on the same port: the embedded node's name (which a backup records) derives
    # from the HTTP port, as it does for every embedded server on the default port 8079
    target = source.model_copy(update={"data_dir": tmp_path / "empty"})
    restored = MemoryEngine.restore_backup("ada-1", target)
    assert restored["status"] == "SUCCESS"
    engine = MemoryEngine.from_settings(target, start_tasks=False)
    try:
        assert {q: _ranked(engine, q) for q in queries} == before
        try:
            MemoryEngine.restore_backup("ada-1", target)
            raise AssertionError("a restore over existing collections must be refused")
        except InvalidRequestError as exc:
            assert "empty store" in str(exc)
    finally:
        engine.close()
        _stop(target)


def test_cli_backup_commands(tmp_path: Path) -> None:
    env = {**os.environ, "MEMOS_DATA_DIR": str(tmp_path / "data"), "MEMOS_BACKUP_DIR": str(tmp_path / "b"),
           "MEMOS_EMBEDDED_HTTP_PORT": str(_free_port()), "MEMOS_EMBEDDED_GRPC_PORT": str(_free_port())}
    cli = [sys.executable, "-m", "memos_integrations.cli", "backup"]
    created = subprocess.run([*cli, "create", "nightly"], env=env, capture_output=True, text=True, timeout=300,
                             check=False)
    assert created.returncode == 0, created.stderr[-3000:]
    assert json.loads(created.stdout.strip().splitlines()[-1])["id"] == "nightly"
    listed = subprocess.run([*cli, "list"], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert [json.loads(line)["id"] for line in listed.stdout.strip().splitlines()] == ["nightly"]
    missing = subprocess.run([*cli, "restore"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert missing.returncode == 2 and "needs the backup id" in missing.stderr
