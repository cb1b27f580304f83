"""Progress of long steps: the Go build of Weaviate and schema migrations report elapsed time and
what they are doing (no server needed: the build runs a stand-in command with ``go install -v``'s
output shape)."""

from __future__ import annotations

import logging
import os
import sys

import pytest

from memos_integrations.storage.embedded import _run_with_progress
from memos_integrations.storage.migrations import _Progress

FAKE_GO = (
    "import sys, time\n"
    "for line in ['go: downloading github.com/weaviate/weaviate v1.38.14',"
    " 'go: downloading github.com/go-ego/gse v0.80.3', 'github.com/weaviate/weaviate/entities/models',"
    " 'github.com/weaviate/weaviate/usecases/traverser']:\n"
    "    print(line, file=sys.stderr, flush=True); time.sleep(0.3)\n"
    "sys.exit(int(sys.argv[1]))\n"
)


def test_go_build_progress_reports_elapsed_time_downloads_and_packages() -> None:
    lines: list[str] = []
    code, _tail = _run_with_progress([sys.executable, "-c", FAKE_GO, "0"], dict(os.environ), lines.append, every=0.25)
    assert code == 0
    assert any("modules downloaded" in line and "now downloading github.com/" in line for line in lines), lines
    assert "2 packages compiled" in lines[-1] and "go install finished" in lines[-1]
    assert lines[-1].lstrip().startswith("[")  # elapsed seconds first


def test_go_build_failure_keeps_the_output_tail_for_the_error() -> None:
    code, tail = _run_with_progress([sys.executable, "-c", FAKE_GO, "2"], dict(os.environ), lambda _: None, every=5)
    assert code == 2 and "github.com/weaviate/weaviate/usecases/traverser" in tail


def test_migration_progress_logs_cubes_and_objects(caplog: pytest.LogCaptureFixture) -> None:
    progress = _Progress("migration to record_json", total=3, every=0.0)
    with caplog.at_level(logging.INFO, logger="memos_integrations.storage.migrations"):
        for n, _ in enumerate(progress.over(["a", "b", "c"])):
            progress.tick(written=10 * n)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[-1].endswith("2 of 3 cubes done, 20 objects written")
    assert progress.done == 3
