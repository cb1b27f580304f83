"""Reliability of the HTTP server in one process (issue 15), over the real session Weaviate with a
switchable fake LLM (tests/fault_model.py): task ids per owner, idempotent async adds, hard input
limits, keys on the docs, model failures (HTTP 500, garbage, hangs) with deadlines, and transient
task retries with backoff and by hand."""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fault_model import MODEL_TIMEOUT, served_app


@pytest.fixture(scope="module")
def rel(weaviate_client: Any) -> Iterator[SimpleNamespace]:
    """The app on a real port with keys for alice, bob and admin; its chat model is the switchable
    fake LLM; short model deadline and task backoff."""
    with served_app(weaviate_client, MEMOS_MODEL_TIMEOUT=MODEL_TIMEOUT) as env:
        yield env


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Token {key}"}


def post_raw(http: httpx.Client, path: str, body: Any, key: str = "key-admin") -> httpx.Response:
    """POST ``body`` as ASCII JSON (so lone surrogates travel as ``\\ud800`` escapes)."""
    return http.post(path, content=json.dumps(body).encode(), headers={**auth(key), "Content-Type": "application/json"})


def add_body(user: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"user_id": user, "messages": [{"role": "user", "content": text}], **extra}


def task_status(rel: SimpleNamespace, user: str, task_id: str, key: str) -> dict[str, Any]:
    reply = rel.http.get("/product/scheduler/status", params={"user_id": user, "task_id": task_id}, headers=auth(key))
    assert reply.status_code == 200, reply.text
    return dict(reply.json()["data"][0])


def wait_task(rel: SimpleNamespace, user: str, task_id: str, key: str, want: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = task_status(rel, user, task_id, key)
        if status["status"] == want:
            return status
        assert time.monotonic() < deadline, f"task {task_id} is {status}, expected {want}"
        time.sleep(0.1)


def test_task_ids_are_scoped_to_their_owner_fake_llm(rel: SimpleNamespace) -> None:
    """Defect 1: the same caller-chosen task_id from two users names two tasks; neither sees the
    other's, and both extractions run."""
    rel.fake.set("ok")
    first = rel.http.post("/product/add", headers=auth("key-alice"),
                          json=add_body(rel.alice, "TOKEN-alice1 I like tea", task_id="shared-id"))
    second = rel.http.post("/product/add", headers=auth("key-bob"),
                           json=add_body(rel.bob, "TOKEN-bob1 I like coffee", task_id="shared-id"))
    assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
    alice_task, bob_task = first.json()["task_id"], second.json()["task_id"]
    assert alice_task != bob_task
    assert task_status(rel, rel.bob, "shared-id", "key-bob")["task_id"] == bob_task
    assert task_status(rel, rel.alice, "shared-id", "key-alice")["task_id"] == alice_task
    leak = rel.http.get("/product/scheduler/status", params={"user_id": rel.bob, "task_id": alice_task},
                        headers=auth("key-bob"))
    assert leak.status_code == 404
    wait_task(rel, rel.alice, alice_task, "key-alice", "completed")
    wait_task(rel, rel.bob, bob_task, "key-bob", "completed")
    assert rel.fake.extraction_calls()["TOKEN-alice1"] == 1 and rel.fake.extraction_calls()["TOKEN-bob1"] == 1


def test_identical_async_adds_create_one_task_fake_llm(rel: SimpleNamespace) -> None:
    """Defect 4 (in one process): eight identical async adds at once give one task, run once."""
    rel.fake.set("ok")
    body = add_body(rel.alice, "TOKEN-same1 I collect stamps")
    ids: list[str] = []

    def send() -> None:
        reply = rel.http.post("/product/add", headers=auth("key-alice"), json=body)
        assert reply.status_code == 200, reply.text
        ids.append(reply.json()["task_id"])

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1 and len(ids) == 8
    wait_task(rel, rel.alice, ids[0], "key-alice", "completed")
    assert rel.fake.extraction_calls()["TOKEN-same1"] == 1


def test_inputs_beyond_hard_limits_are_4xx_naming_the_field(rel: SimpleNamespace) -> None:
    """Defect 7: out-of-range filter times, lone surrogates, deep nesting and empty messages are
    refused with 4xx naming the field, on every API family, never a 5xx."""
    http, alice = rel.http, rel.alice
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(500):
        node["a"] = {}
        node = node["a"]
    cases: list[tuple[str, Any, str]] = [
        ("/product/search", {"user_id": alice, "query": "q", "filter": {"create_time": {"gt": 1e20}}}, "create_time"),
        ("/product/search", {"user_id": alice, "query": "q", "filter": {"create_time": {"lt": -1e300}}}, "create_time"),
        ("/product/search", {"user_id": alice, "query": "bad \ud800 text"}, "query"),
        ("/product/add", add_body(alice, "hello \ud800"), "messages[0].content"),
        ("/product/add", add_body(alice, "hello", info={"k\udfff": "v"}), "info"),
        ("/product/add", add_body(alice, "hello", info=deep), "info"),
        ("/product/add", {"user_id": alice, "messages": [{"role": "user", "content": ""}]}, "messages"),
        ("/product/add", {"user_id": alice, "messages": [{"role": "user"}]}, "messages"),
        ("/v1/recall", {"memoryAgentName": alice, "query": "q \ud800"}, "query"),
        ("/api/openmem/v1/search/memory", {"user_id": alice, "query": "\udc00"}, "query"),
    ]
    for path, body, field in cases:
        reply = post_raw(http, path, body, key="key-alice")
        assert 400 <= reply.status_code < 500, (path, field, reply.status_code, reply.text[:300])
        text = reply.text
        assert field in text and "Traceback" not in text, (path, field, text[:300])
    very_deep = b'{"user_id": "x", "info": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    reply = http.post("/product/add", content=very_deep, headers={**auth("key-alice"), "Content-Type": "application/json"})
    assert reply.status_code in (413, 422), reply.text[:200]


def test_docs_need_a_key_when_keys_are_configured(rel: SimpleNamespace) -> None:
    """Defect 8: /docs, /redoc and /openapi.json answer 401 without a key, 200 with one."""
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert rel.http.get(path).status_code == 401, path
        assert rel.http.get(path, headers=auth("wrong")).status_code == 401, path
        assert rel.http.get(path, headers=auth("key-bob")).status_code == 200, path
    assert rel.http.get("/health/live").status_code == 200
    ready = rel.http.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_model_failures_are_502_and_json_schema_output_stays_on_fake_llm(rel: SimpleNamespace) -> None:
    """Defect 6: a model HTTP 500 is our 502 (not 500); a garbage answer is 502 and does not turn
    JSON-schema output off for the next calls."""
    sync = {"async_mode": "sync", "mode": "fine"}
    rel.fake.set("error500")
    crashed = rel.http.post("/product/add", headers=auth("key-alice"), json=add_body(rel.alice, "TOKEN-m500 x", **sync))
    assert crashed.status_code == 502 and "chat model" in crashed.json()["message"], crashed.text
    rel.fake.set("garbage")
    garbage = rel.http.post("/product/add", headers=auth("key-alice"), json=add_body(rel.alice, "TOKEN-mgb x", **sync))
    assert garbage.status_code == 502, garbage.text
    rel.fake.set("ok")
    before = len(rel.fake.requests)
    fine = rel.http.post("/product/add", headers=auth("key-alice"), json=add_body(rel.alice, "TOKEN-mok x", **sync))
    assert fine.status_code == 200, fine.text
    assert any("response_format" in r for r in rel.fake.requests[before:]), "JSON-schema output was switched off"


def test_sync_memorize_obeys_the_model_deadline_and_recall_is_not_starved_fake_llm(rel: SimpleNamespace) -> None:
    """Defect 5: a hanging model answers sync adds with 502 within the deadline (two model calls at
    most), and searches keep answering while many such adds wait."""
    rel.fake.set("hang")
    replies: list[httpx.Response] = []

    def slow_add(i: int) -> None:
        replies.append(rel.http.post("/product/add", headers=auth("key-alice"), json=add_body(
            rel.alice, f"TOKEN-hang{i} x", async_mode="sync", mode="fine")))

    threads = [threading.Thread(target=slow_add, args=(i,)) for i in range(12)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        search = rel.http.post("/product/search", headers=auth("key-alice"),
                               json={"user_id": rel.alice, "query": "tea"}, timeout=10)
        assert search.status_code == 200, search.text
        for thread in threads:
            thread.join(timeout=4 * MODEL_TIMEOUT + 20)
        limit = 2 * MODEL_TIMEOUT + 15  # extraction + reconciliation, plus scheduling slack
        assert time.monotonic() - started < limit
        assert len(replies) == 12 and all(r.status_code == 502 for r in replies), [r.text[:120] for r in replies]
        assert any("MEMOS_MODEL_TIMEOUT" in r.text for r in replies)
    finally:
        rel.fake.set("ok")


def test_transient_task_failures_retry_with_backoff_and_by_hand_fake_llm(rel: SimpleNamespace) -> None:
    """Defect 5/4: a task failing because the model is down is retried with backoff and completes
    once the model is back; after the cap it is failed; a failed task can be retried by hand."""
    rel.fake.set("error500")
    task_id = rel.http.post("/product/add", headers=auth("key-alice"),
                            json=add_body(rel.alice, "TOKEN-retry1 I swim")).json()["task_id"]
    deadline = time.monotonic() + 20
    while "ModelUnavailableError" not in (task_status(rel, rel.alice, task_id, "key-alice")["error"] or ""):
        assert time.monotonic() < deadline, "the transient failure was never recorded"
        time.sleep(0.1)
    assert task_status(rel, rel.alice, task_id, "key-alice")["status"] in ("waiting", "in_progress")
    rel.fake.set("ok")
    wait_task(rel, rel.alice, task_id, "key-alice", "completed")
    assert rel.engine.get_task(task_id).attempts >= 2

    rel.fake.set("error500")
    capped = rel.http.post("/product/add", headers=auth("key-alice"),
                           json=add_body(rel.alice, "TOKEN-retry2 I run")).json()["task_id"]
    failed = wait_task(rel, rel.alice, capped, "key-alice", "failed")
    assert "ModelUnavailableError" in failed["error"] and rel.engine.get_task(capped).attempts == 3
    rel.fake.set("ok")
    assert rel.engine.retry_task(capped).status.value == "waiting"
    wait_task(rel, rel.alice, capped, "key-alice", "completed")
    assert rel.fake.extraction_calls()["TOKEN-retry2"] >= 4


def test_two_runners_on_one_store_run_each_task_once(weaviate_client: Any) -> None:
    """Defect 4 (claims): two live runners (as two workers) queue the same open tasks; the claim
    (host lock + lease + fencing token) lets exactly one run each."""
    from collections import Counter

    from memos_integrations.config import Settings
    from memos_integrations.domain.models import TaskRecord, TaskStatus
    from memos_integrations.storage.store import MemoryStore
    from memos_integrations.tasks import TaskRunner

    store = MemoryStore(weaviate_client, prefix=f"Claim{uuid.uuid4().hex[:8]}")
    store.setup()
    runs: Counter[str] = Counter()
    lock = threading.Lock()

    def handler(task: TaskRecord) -> dict[str, Any]:
        with lock:
            runs[task.id] += 1
        time.sleep(0.2)
        return {"ok": True}

    settings = Settings(MEMOS_DATA_DIR=Path(tempfile.mkdtemp()))
    first = TaskRunner(store, handler, workers=2, settings=settings)
    second = TaskRunner(store, handler, workers=2, settings=settings)
    try:
        ids = [first.submit(TaskRecord(user_id="u", idempotency_key=f"k{i}")).id for i in range(8)]
        second.recover()  # the other "worker" starts and recovers every open task
        assert first.wait(task_ids=ids, timeout=60)
        assert all(first.get(i).status is TaskStatus.COMPLETED for i in ids)
        assert all(runs[i] == 1 for i in ids), runs
    finally:
        first.close()
        second.close()
        store.drop()
