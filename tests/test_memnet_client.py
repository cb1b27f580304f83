"""Every public ``MemNetAIClient`` call (memnetai-python-sdk 1.0.2) against a live app, checking
the answer AND its effect, plus the seed behaviours they carry.

Two apps: ``server_env`` (conftest; no chat model on the engine: fast mode, the "no model" answers)
and ``memnet_env`` below, whose engine has a scripted LangChain chat model (fake LLM) so think,
dream's raw -> fine step and model failures can be driven per test. Everything goes through the
SDK or plain HTTP; no test touches the engine, its store or cube names.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import _ThreadedUvicorn
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from memnetai import MemNetAIClient, Message

from memos_integrations.config import Settings
from memos_integrations.storage.store import MemoryStore

Script = Callable[[list[BaseMessage]], str]


def _text(message: BaseMessage) -> str:
    return message.content if isinstance(message.content, str) else json.dumps(message.content)


def default_answer(messages: list[BaseMessage]) -> str:
    """fake LLM: a well-behaved model. Extraction: one fact per user line (key ``residence`` for
    where one lives); reconciliation: every new memory updates the first stored one it is shown
    with (reason "moved"); think: one insight resting on every memory shown."""
    system, user = _text(messages[0]), _text(messages[-1])
    if "memory extractor" in system or "记忆提取器" in system:
        facts = []
        for index, text in re.findall(r"^\[(\d+)\][^\n]*?\(user\): (.*)$", user, flags=re.MULTILINE):
            key = "residence" if re.search(r"\blive|moved\b", text) else text[:30]
            facts.append({"key": key, "value": text, "memory_type": "UserMemory", "message_indexes": [int(index)],
                          "entities": [], "tags": []})
        return json.dumps({"summary": "talked", "facts": facts})
    if "maintain a long-term memory" in system or "在维护长期记忆" in system:
        decisions = [{"index": int(i), "decision": "update", "targets": ["M1"],
                      "reason": "moved from Beijing to Shanghai"} for i in re.findall(r"^\[N(\d+)\]", user, flags=re.MULTILINE)]
        return json.dumps({"facts": decisions, "relations": []})
    if "reflective mind" in system or "思考" in system:
        numbers = [int(n) for n in re.findall(r"^\[(\d+)\]", user, flags=re.MULTILINE)]
        return json.dumps({"content": "Bob's days are organised around green tea.", "summary": "a tea person",
                           "insights": [{"text": "Bob is a devoted green tea drinker", "sources": numbers}]})
    return "{}"


class ScriptedChat(BaseChatModel):
    """fake LLM: answers with the current test's script (default: :func:`default_answer`)."""

    script: Any = None

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        text = (self.script or default_answer)(messages)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


@pytest.fixture(scope="module")
def memnet_env(weaviate_client):  # type: ignore[no-untyped-def]
    """The app over an engine with a scripted chat model (fake LLM); sync memorize gives the model
    3 s (``MEMOS_SYNC_MODEL_TIMEOUT``); a global common-sense database is configured."""
    from types import SimpleNamespace

    from memos_integrations.engine import MemoryEngine
    from memos_integrations.llm.embeddings import HashEmbeddings
    from memos_integrations.server.app import create_app

    run = uuid.uuid4().hex[:8]
    bob, alice, world = f"mbob_{run}", f"malice_{run}", f"world_{run}"
    keys = {"key-bob": {"users": [bob]}, "key-alice": {"users": [alice]}, "key-admin": {"users": ["*"]}}
    settings = Settings(MEMOS_API_KEYS=keys, MEMOS_SYNC_MODEL_TIMEOUT=3,
                        MEMOS_GLOBAL_COMMON_SENSE_CUBE=f"commonsense__{world}")
    store = MemoryStore(weaviate_client, prefix="Mnet")
    store.setup()
    model = ScriptedChat()
    engine = MemoryEngine(store, HashEmbeddings(dim=256), model, settings=settings)
    with _ThreadedUvicorn(create_app(engine, settings)) as server:
        yield SimpleNamespace(url=server.url, bob=bob, alice=alice, world=world, model=model)
    engine.tasks.close()


@pytest.fixture
def llm(memnet_env) -> Iterator[ScriptedChat]:  # type: ignore[no-untyped-def]
    """The scripted fake LLM of ``memnet_env``, back to the default script after the test."""
    yield memnet_env.model
    memnet_env.model.script = None


def data(reply: dict[str, Any] | None) -> dict[str, Any]:
    assert reply is not None and reply["status_code"] == 200, reply
    body = reply["response_json"]
    assert body["code"] == "200" and body["msg"] == "success"
    return body["data"]  # type: ignore[no-any-return]


def wait_status(poll: Callable[[], dict[str, Any] | None], statuses: tuple[str, ...] = ("completed",),
                timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        current = data(poll())
        if current["status"] in statuses or time.monotonic() > deadline:
            return current
        time.sleep(0.2)


def texts(recalled: dict[str, Any]) -> list[str]:
    return [s["memorySummaryText"] for s in recalled["memorySummaryList"]]


# ---------------------------------------------------------------------------------------------
# memories + recall + /memories/task/*


def test_memories_recall_and_memories_tasks(server_env) -> None:  # type: ignore[no-untyped-def]
    """memories (sync and async), recall, memories_detail/progress/all/delete: each answers 200
    and the memory is found; usage counts what the call consumed; contextType is set."""
    client = MemNetAIClient(api_key="key-bob", base_url=server_env.url)
    agent, ns = server_env.bob, f"ns{uuid.uuid4().hex[:6]}"
    stored = data(client.memories(agent, [Message("user", "I keep koi in a pond", "Bob")], language="en-US",
                                  namespace=ns))
    assert stored["memoriesInfo"]["newMemoryCount"] == 1 and stored["usage"]["consumedMemoryCount"] == "1"
    recalled = data(client.recall(agent, "I keep koi in a pond", namespace=ns))
    assert any("koi" in t for t in texts(recalled)) and recalled["usage"]["consumedRecallCount"] == "1"
    assert all(isinstance(s["contextType"], int) for s in recalled["memorySummaryList"])

    task_id = data(client.memories(agent, [Message("user", "The pond has a heron problem", "Bob")], async_mode=1,
                                   namespace=ns))["taskId"]
    assert wait_status(lambda: client.memories_progress(task_id))["progress"] == 100
    detail = data(client.memories_detail(task_id))
    assert detail["status"] == "completed" and detail["memoriesInfo"]["newMemoryCount"] == 1
    assert task_id in {t["taskId"] for t in data(client.memories_all())["taskList"]}
    assert data(client.memories_delete(task_id))["taskId"] == task_id
    assert any("heron" in t for t in texts(data(client.recall(agent, "The pond has a heron problem", namespace=ns))))
    with pytest.raises(RuntimeError, match="业务错误码：404"):
        client.think_detail(task_id)  # a memorize task is not a think task


# ---------------------------------------------------------------------------------------------
# common sense


def test_common_sense_database_end_to_end(server_env) -> None:  # type: ignore[no-untyped-def]
    """common_sense (sync, async) + the /common-sense/task calls: the text is found by recall with
    commonSenseDatabaseIdList=[id] (by its id); the database belongs to the writer's account."""
    bob = MemNetAIClient(api_key="key-bob", base_url=server_env.url)
    alice = MemNetAIClient(api_key="key-alice", base_url=server_env.url)
    database = f"teas_{uuid.uuid4().hex[:6]}"
    written = data(bob.common_sense(database, "Genmaicha is green tea blended with roasted brown rice", async_mode=0))
    assert written["count"] == 1 and written["usage"]["consumedCommonMemoryWords"] != "0"
    query = "what is genmaicha made of"
    found = data(bob.recall(server_env.bob, query, common_sense_database_id_list=[database]))["commonSenseList"]
    assert [c["id"] for c in found if "roasted brown rice" in c["text"]] == written["ids"]
    assert found[0]["memnetaiCommonSenseDatabaseName"] == database
    without = data(bob.recall(server_env.bob, query))["commonSenseList"]
    assert not any("roasted brown rice" in c["text"] for c in without)

    task_id = data(bob.common_sense(database, "Sencha is steamed green tea from Shizuoka"))["taskId"]
    assert wait_status(lambda: bob.common_sense_progress(task_id))["progress"] == 100
    assert data(bob.common_sense_detail(task_id))["status"] == "completed"
    assert task_id in {t["taskId"] for t in data(bob.common_sense_all())["taskList"]}
    assert data(bob.common_sense_delete(task_id))["taskId"] == task_id
    found = data(bob.recall(server_env.bob, "steamed green tea Shizuoka", common_sense_database_id_list=[database]))
    assert any("Sencha" in c["text"] for c in found["commonSenseList"])

    with pytest.raises(RuntimeError, match="业务错误码：403"):
        alice.common_sense(database, "Genmaicha is coffee", async_mode=0)  # another account's database
    with pytest.raises(RuntimeError, match="业务错误码：403"):
        alice.recall(server_env.alice, query, common_sense_database_id_list=[database])
    with pytest.raises(RuntimeError, match="业务错误码：404"):
        alice.common_sense_detail(task_id)

    with httpx.Client(base_url=server_env.url, timeout=60) as http:  # a MemOS cloud knowledge base of alice's
        kb = http.post("/api/openmem/v1/create/knowledgebase", headers={"Authorization": "Token key-alice"},
                       json={"knowledgebase_name": "alice's notes"})
        assert kb.status_code == 200, kb.text
    with pytest.raises(RuntimeError, match="业务错误码：403"):  # the same cube: bob may not write into it
        bob.common_sense(kb.json()["data"]["id"], "planted text", async_mode=0)


def test_agent_and_global_common_sense_databases(memnet_env) -> None:  # type: ignore[no-untyped-def]
    """The memory agent's own database has a write path (``memoryAgentName`` on /v1/common-sense)
    and is read with isUsingMemoryAgentCommonSenseDatabase; the global database is the one
    MEMOS_GLOBAL_COMMON_SENSE_CUBE names, read by every agent by default."""
    bob = MemNetAIClient(api_key="key-bob", base_url=memnet_env.url)
    admin = MemNetAIClient(api_key="key-admin", base_url=memnet_env.url)
    with httpx.Client(base_url=memnet_env.url, timeout=60) as http:
        own = http.post("/v1/common-sense", headers={"Authorization": "Token key-bob"}, json={
            "memoryAgentName": memnet_env.bob, "commonSenseText": "The farm's kettle boils at 80 degrees",
            "asyncMode": 0})
        assert own.status_code == 200, own.text
        denied = http.post("/v1/common-sense", headers={"Authorization": "Token key-alice"}, json={
            "memoryAgentName": memnet_env.bob, "commonSenseText": "x", "asyncMode": 0})
        assert denied.status_code == 403
    data(admin.common_sense(memnet_env.world, "Water boils at 100 degrees at sea level", async_mode=0))
    with pytest.raises(RuntimeError, match="业务错误码：403"):  # the admin's account owns the global database
        bob.common_sense(memnet_env.world, "Water boils at 50 degrees", async_mode=0)
    query = "at what temperature does the kettle water boil"
    plain = data(bob.recall(memnet_env.bob, query))["commonSenseList"]
    assert any("sea level" in c["text"] for c in plain) and not any("kettle" in c["text"] for c in plain)
    both = data(bob.recall(memnet_env.bob, query, is_using_memory_agent_common_sense_database=1))["commonSenseList"]
    assert any("kettle" in c["text"] for c in both) and any("sea level" in c["text"] for c in both)
    off = data(bob.recall(memnet_env.bob, query, is_using_global_common_sense_database=0))["commonSenseList"]
    assert not any("sea level" in c["text"] for c in off)


# ---------------------------------------------------------------------------------------------
# think


def test_think_stores_insights_linked_to_sources_fake_llm(memnet_env, llm) -> None:  # type: ignore[no-untyped-def]
    """think (sync with a subject, async without) and think_detail/all/delete: the insight is
    stored, linked to the memories it rests on, and recalled like any memory."""
    client = MemNetAIClient(api_key="key-bob", base_url=memnet_env.url)
    agent, ns = memnet_env.bob, f"think{uuid.uuid4().hex[:6]}"
    data(client.memories(agent, [Message("user", "I drink genmaicha every morning", "Bob"),
                                 Message("user", "I bought a cast iron teapot for green tea", "Bob")],
                         language="en-US", namespace=ns))
    thought = data(client.think(agent, subject="green tea", async_mode=0, namespace=ns))
    assert thought["content"] == "Bob's days are organised around green tea." and thought["summary"]
    assert thought["usage"]["consumedThinkingCount"] == "1" and thought["taskId"]
    [insight] = thought["insights"]
    assert insight["memorySummaryText"] == "Bob is a devoted green tea drinker"
    recalled = data(client.recall(agent, "devoted green tea drinker", namespace=ns,
                                  is_returning_detailed_memory_info=1))
    stored = next(s for s in recalled["memorySummaryList"] if s["memorySummaryId"] == insight["memorySummaryId"])
    assert "insight" in stored["tags"] and stored["contextType"] == 1
    sources = {s["memorySummaryId"]: s["memorySummaryText"] for s in recalled["memorySummaryList"]}
    assert len(insight["sourceMemorySummaryIds"]) == 2
    assert {sources.get(i) for i in insight["sourceMemorySummaryIds"]} >= {"I drink genmaicha every morning"}

    task_id = data(client.think(agent, namespace=ns))["taskId"]  # async, no subject: the recent topics
    done = wait_status(lambda: client.think_detail(task_id))
    assert done["subject"] == "recent topics" and done["insights"]
    assert task_id in {t["taskId"] for t in data(client.think_all())["taskList"]}
    assert data(client.think_delete(task_id))["taskId"] == task_id
    with pytest.raises(RuntimeError, match="业务错误码：404"):
        client.dream_detail(task_id)


def test_think_without_a_chat_model_says_so(server_env) -> None:  # type: ignore[no-untyped-def]
    client = MemNetAIClient(api_key="key-bob", base_url=server_env.url)
    with pytest.raises(RuntimeError, match="业务错误码：400.*chat model"):
        client.think(server_env.bob, subject="tea", async_mode=0)


# ---------------------------------------------------------------------------------------------
# dream


def test_dream_merges_duplicates_without_a_model(server_env) -> None:  # type: ignore[no-untyped-def]
    """dream (sync, async) and dream_detail/all/delete on an engine without a chat model: the
    duplicates are merged (one left in recall) and the answer says what needed a model."""
    client = MemNetAIClient(api_key="key-bob", base_url=server_env.url)
    agent, ns = server_env.bob, f"dream{uuid.uuid4().hex[:6]}"
    for text in ("My favourite tea is genmaicha.", "my favourite tea is Genmaicha!"):
        data(client.memories(agent, [Message("user", text, "Bob")], language="en-US", namespace=ns))
    dreamt = data(client.dream(agent, async_mode=0, namespace=ns))
    [merged] = dreamt["mergedMemories"]
    assert len(merged["mergedMemorySummaryIds"]) == 1 and dreamt["usage"]["consumedDreamCount"] == "1"
    assert any("no chat model" in w for w in dreamt["warnings"]) and "no chat model" in dreamt["tip"]
    left = [s for s in data(client.recall(agent, "favourite tea genmaicha", namespace=ns))["memorySummaryList"]
            if "genmaicha" in s["memorySummaryText"].lower()]
    assert [s["memorySummaryId"] for s in left] == [merged["keptMemorySummaryId"]]

    task_id = data(client.dream(agent, namespace=ns))["taskId"]
    assert wait_status(lambda: client.dream_detail(task_id))["mergedMemories"] == []
    assert task_id in {t["taskId"] for t in data(client.dream_all())["taskList"]}
    assert data(client.dream_delete(task_id))["taskId"] == task_id


def test_dream_archives_what_the_forgetting_curve_let_go(server_env) -> None:  # type: ignore[no-untyped-def]
    """A memory never recalled is archived by a dream run half a year later (``referenceTime``); a
    memory recalled often in between is kept. The curve runs from when a memory was stored, so an
    old ``chat_time`` alone does not make a new memory forgotten."""
    user = f"{server_env.alice}__dream{uuid.uuid4().hex[:6]}"
    auth = {"Authorization": "Token key-alice"}
    with httpx.Client(base_url=server_env.url, timeout=60) as http:
        for content, when in (("I once visited Reykjavik in winter", "2023-01-05T10:00:00Z"),
                              ("I am learning the violin", None)):
            message: dict[str, Any] = {"role": "user", "content": content}
            if when:
                message["chat_time"] = when
            added = http.post("/product/add", headers=auth, json={  # two conversations: no shared context
                "user_id": server_env.alice, "writable_cube_ids": [user], "async_mode": "sync", "mode": "fast",
                "session_id": "travel" if when else "music", "messages": [message]})
            assert added.status_code == 200, added.text
        for _ in range(4):  # the violin memory is recalled again and again
            found = http.post("/product/search", headers=auth, json={
                "user_id": server_env.alice, "readable_cube_ids": [user], "query": "I am learning the violin",
                "relativity": 0.95})
            assert all("Reykjavik" not in m["memory"] for b in found.json()["data"]["text_mem"] for m in b["memories"])
            assert found.status_code == 200
        now = http.post("/v1/dream", headers=auth, json={"memoryAgentName": server_env.alice,
                                                          "namespace": user.split("__", 1)[1], "asyncMode": 0})
        assert now.status_code == 200 and now.json()["data"]["archivedMemorySummaryIds"] == []
        later = http.post("/v1/dream", headers=auth, json={
            "memoryAgentName": server_env.alice, "namespace": user.split("__", 1)[1], "asyncMode": 0,
            "referenceTime": (datetime.now(UTC) + timedelta(days=180)).isoformat()})
        assert later.status_code == 200, later.text
        archived = later.json()["data"]["archivedMemorySummaryIds"]
    client = MemNetAIClient(api_key="key-alice", base_url=server_env.url)
    recalled = texts(data(client.recall(server_env.alice, "Reykjavik winter trip violin",
                                        namespace=user.split("__", 1)[1])))
    assert len(archived) == 1
    assert not any("Reykjavik" in t for t in recalled) and any("violin" in t for t in recalled)


def test_dream_turns_raw_into_fine_and_resolves_the_conflict_fake_llm(memnet_env, llm) -> None:  # type: ignore[no-untyped-def]
    """A raw memory left by a failed model is turned into a fine one by dream; the conflict with
    the stored residence is resolved with the change log, and recall with
    isIncludeLinkedNewMemoriesFromInvalid shows the invalid memory linked to the new one."""
    client = MemNetAIClient(api_key="key-bob", base_url=memnet_env.url)
    agent, ns = memnet_env.bob, f"move{uuid.uuid4().hex[:6]}"
    data(client.memories(agent, [Message("user", "I live in Beijing", "Bob")], language="en-US", namespace=ns))

    def broken(messages: list[BaseMessage]) -> str:
        raise RuntimeError("model server down")

    llm.script = broken
    moved = data(client.memories(agent, [Message("user", "I moved to Shanghai", "Bob")], language="en-US",
                                 namespace=ns))
    assert moved["warnings"] and moved["memoriesInfo"]["newMemoryCount"] == 1
    wait_failed(client, moved["taskId"])  # the enrichment task met the broken model too
    llm.script = None
    dreamt = data(client.dream(agent, async_mode=0, namespace=ns))
    assert dreamt["newMemorySummaryIds"] and len(dreamt["historyMemorySummaryConflictAnalyses"]) == 1
    recalled = data(client.recall(agent, "Where do I live? Beijing or Shanghai", namespace=ns,
                                  is_include_linked_new_memories_from_invalid=1))
    by_text = {s["memorySummaryText"]: s for s in recalled["memorySummaryList"]}
    old, new = by_text["I live in Beijing"], by_text["I moved to Shanghai"]
    assert old["memoryStatus"] == 0 and old["linkedNewMemorySummaryId"] == new["memorySummaryId"]
    assert "moved from Beijing to Shanghai" in old["memoryChangeLog"] and new["memoryStatus"] == 1
    assert not any(t.startswith("Bob: ") for t in by_text)  # the raw window was archived
    prompt = recalled["memoryPrompt"]
    assert "I live in Beijing — no longer true since" in prompt and "(moved from Beijing to Shanghai)" in prompt
    assert "now: I moved to Shanghai" in prompt
    plain = data(client.recall(agent, "Where do I live? Beijing or Shanghai", namespace=ns))
    assert "I live in Beijing" not in texts(plain) and "I moved to Shanghai" in texts(plain)
    # the same data on MemOS search
    found = httpx.post(f"{memnet_env.url}/product/search", headers={"Authorization": "Token key-bob"}, timeout=60,
                       json={"user_id": agent, "readable_cube_ids": [f"{agent}__{ns}"], "relativity": 0,
                             "query": "Where do I live? Beijing or Shanghai", "include_linked_new_from_invalid": True})
    assert found.status_code == 200, found.text
    items = {m["memory"]: m for b in found.json()["data"]["text_mem"] for m in b["memories"]}
    assert items["I live in Beijing"]["metadata"]["status"] == "invalid"
    assert items["I live in Beijing"]["metadata"]["superseded_by"] == items["I moved to Shanghai"]["id"]
    assert "(moved from Beijing to Shanghai)" in found.json()["data"]["memory_prompt"]


def wait_failed(client: MemNetAIClient, task_id: str) -> dict[str, Any]:
    """The memorize task once its (first) failure is recorded."""
    deadline = time.monotonic() + 30
    while True:
        task = data(client.memories_detail(task_id))
        if task["error"] or time.monotonic() > deadline:
            return task
        time.sleep(0.3)


# ---------------------------------------------------------------------------------------------
# when the chat model fails


def _raise(messages: list[BaseMessage]) -> str:
    raise RuntimeError("upstream 500")


def _prose(messages: list[BaseMessage]) -> str:
    return "Sorry, as an AI I cannot answer in JSON today."


def _slow(messages: list[BaseMessage]) -> str:
    time.sleep(6)  # beyond the app's 3 s MEMOS_SYNC_MODEL_TIMEOUT
    return _prose(messages)


@pytest.mark.parametrize("failure", [_raise, _prose, _slow], ids=["error", "not-json", "timeout"])
def test_memories_never_lose_messages_when_the_model_fails_fake_llm(memnet_env, llm, failure) -> None:  # type: ignore[no-untyped-def]
    """Sync memories with a failing fake LLM: 200 with a warning, the raw memory stored and
    recalled, and the enrichment recorded as a task failing with ModelUnavailableError."""
    client = MemNetAIClient(api_key="key-bob", base_url=memnet_env.url)
    agent, ns = memnet_env.bob, f"fail{uuid.uuid4().hex[:6]}"
    llm.script = failure
    started = time.monotonic()
    stored = data(client.memories(agent, [Message("user", f"My locker code is {ns}", "Bob")], language="en-US",
                                  namespace=ns))
    assert time.monotonic() - started < 30
    assert stored["warnings"] and "raw memories are stored" in stored["tip"]
    assert stored["memoriesInfo"]["newMemoryCount"] == 1 and stored["taskId"]
    assert any(ns in t for t in texts(data(client.recall(agent, f"My locker code is {ns}", namespace=ns))))
    task = wait_failed(client, stored["taskId"])
    assert task["kind"] == "memorize:enrich" and task["error"].startswith("ModelUnavailableError")


# ---------------------------------------------------------------------------------------------
# seed semantics through the routes


def _product_add(http: httpx.Client, key: str, user: str, content: str, chat_time: str | None = None,
                 **extra: Any) -> None:
    message: dict[str, Any] = {"role": "user", "content": content}
    if chat_time:
        message["chat_time"] = chat_time
    added = http.post("/product/add", headers={"Authorization": f"Token {key}"}, json={
        "user_id": user, "async_mode": "sync", "mode": "fast", "messages": [message], **extra})
    assert added.status_code == 200, added.text


def test_every_memory_gets_a_happened_time(server_env) -> None:  # type: ignore[no-untyped-def]
    """MemnetAI messages carry no time: the memory happened when the request was made."""
    client = MemNetAIClient(api_key="key-bob", base_url=server_env.url)
    agent, ns = server_env.bob, f"time{uuid.uuid4().hex[:6]}"
    before = time.strftime("%Y-%m-%d", time.gmtime())
    data(client.memories(agent, [Message("user", "I repotted the ficus", "Bob")], namespace=ns))
    [summary] = [s for s in data(client.recall(agent, "I repotted the ficus", namespace=ns,
                                               is_returning_detailed_memory_info=1))["memorySummaryList"]
                 if "ficus" in s["memorySummaryText"]]
    assert summary["happenedTime"].startswith(before) and summary["createTime"].startswith(before)


def test_time_cue_changes_the_ranking_of_memories_added_through_routes(server_env) -> None:  # type: ignore[no-untyped-def]
    """'last night' lifts what was said last night (chat_time given at MemOS add) over the same
    kind of memory from ten days ago, on the MemnetAI recall of the same user."""
    user = server_env.alice
    now = time.time()
    last_night = time.strftime("%Y-%m-%dT21:00:00Z", time.gmtime(now - 86400))
    ten_days = time.strftime("%Y-%m-%dT21:00:00Z", time.gmtime(now - 10 * 86400))
    tag = uuid.uuid4().hex[:6]
    with httpx.Client(base_url=server_env.url, timeout=60) as http:
        _product_add(http, "key-alice", user, f"I watched the film Arrival {tag}", last_night)
        _product_add(http, "key-alice", user, f"I watched the film Dune {tag}", ten_days)
    client = MemNetAIClient(api_key="key-alice", base_url=server_env.url)

    def scores(query: str) -> dict[str, float]:
        found = data(client.recall(user, query))["memorySummaryList"]
        return {film: next(s["score"] for s in found if film in s["memorySummaryText"]) for film in ("Arrival", "Dune")}

    plain = scores(f"which film did I watch {tag}")
    cued = scores(f"which film did I watch last night {tag}")
    assert cued["Arrival"] > cued["Dune"]
    assert cued["Arrival"] - cued["Dune"] > plain["Arrival"] - plain["Dune"] + 0.05


def test_character_ranks_memories_by_that_character_higher(server_env) -> None:  # type: ignore[no-untyped-def]
    client = MemNetAIClient(api_key="key-bob", base_url=server_env.url)
    agent, ns = server_env.bob, f"char{uuid.uuid4().hex[:6]}"
    data(client.memories(agent, [Message("user", "I love hiking in the mountains", "Carol"),
                                 Message("user", "I love hiking in the mountains", "Dave")], namespace=ns))
    for speaker in ("Carol", "Dave"):
        found = data(client.recall(agent, "who loves hiking in the mountains", namespace=ns, character=speaker))
        assert found["memorySummaryList"][0]["charactersInMemory"] == speaker
        assert f'Speaking now: {speaker}. In memories said by {speaker}' in found["memoryPrompt"]


def test_forgetting_a_memory_never_recalled_falls_below_the_threshold(server_env) -> None:  # type: ignore[no-untyped-def]
    """Two memories stored today (in two cubes, so searching one never reinforces the other); one is
    searched often. 120 days later (``reference_time``), the default relativity threshold keeps the
    often-recalled one and lets the other go."""
    user, key_tag, gym_tag = server_env.alice, uuid.uuid4().hex[:6], uuid.uuid4().hex[:6]
    later = time.strftime("%Y-%m-%dT12:00:00Z", time.gmtime(time.time() + 120 * 86400))
    spare_key = f"The spare house key hides under the blue flowerpot {key_tag}"
    locker = f"My gym locker code is {gym_tag}"
    with httpx.Client(base_url=server_env.url, timeout=60) as http:
        _product_add(http, "key-alice", user, spare_key, writable_cube_ids=[server_env.public])
        _product_add(http, "key-alice", user, locker)

        def search(query: str, **extra: Any) -> list[str]:
            found = http.post("/product/search", headers={"Authorization": "Token key-alice"},
                              json={"user_id": user, "query": query, **extra})
            assert found.status_code == 200, found.text
            return [m["memory"] for bucket in found.json()["data"]["text_mem"] for m in bucket["memories"]]

        for _ in range(8):  # found today (the other one, as fresh, would be too)
            assert any(gym_tag in m for m in search(locker))
        time.sleep(2)  # recall reinforcement is written in the background
        in_public = {"readable_cube_ids": [server_env.public]}
        assert not any(key_tag in m for m in search(spare_key, reference_time=later, **in_public))
        assert any(gym_tag in m for m in search(locker, reference_time=later))
        assert any(key_tag in m for m in search(spare_key, **in_public))  # today it is still there


def test_associative_thinking_reaches_the_memory_prompt_fake_llm(memnet_env, llm) -> None:  # type: ignore[no-untyped-def]
    client = MemNetAIClient(api_key="key-bob", base_url=memnet_env.url)
    agent, ns = memnet_env.bob, f"assoc{uuid.uuid4().hex[:6]}"

    def with_relations(messages: list[BaseMessage]) -> str:
        if "memory extractor" in _text(messages[0]):
            return json.dumps({"summary": "work", "facts": [
                {"key": "employer", "value": "Bob works at Acme", "memory_type": "UserMemory",
                 "entities": ["Bob", "Acme"], "message_indexes": [0]}],
                "relations": [{"source": "Bob", "relation": "works at", "target": "Acme"},
                              {"source": "Acme", "relation": "is based in", "target": "Lyon"}]})
        return default_answer(messages)

    llm.script = with_relations
    stored = data(client.memories(agent, [Message("user", "I work at Acme, the Lyon company", "Bob")],
                                  language="en-US", namespace=ns))
    assert not stored["warnings"], stored
    found = data(client.recall(agent, "Where does Bob work?", namespace=ns, recall_deep=2))
    assert found["associativeThinkingList"]
    assert "Acme --is based in--> Lyon" in found["memoryPrompt"]
    off = data(client.recall(agent, "Where does Bob work?", namespace=ns, is_using_associative_thinking=0))
    assert "--is based in-->" not in off["memoryPrompt"]


def test_async_memories_keep_raw_and_retry_enrichment_fake_llm(memnet_env, llm) -> None:  # type: ignore[no-untyped-def]
    """asyncMode 1 with a model that answers prose: the raw memory is searchable at once and the
    enrichment task records the transient ModelUnavailableError (retried by the task runner); once
    the model behaves, a retry enriches it."""
    client = MemNetAIClient(api_key="key-bob", base_url=memnet_env.url)
    agent, ns = memnet_env.bob, f"async{uuid.uuid4().hex[:6]}"
    llm.script = _prose
    queued = data(client.memories(agent, [Message("user", f"My bus pass number is {ns}", "Bob")], async_mode=1,
                                  language="en-US", namespace=ns))
    assert any(ns in t for t in texts(data(client.recall(agent, f"My bus pass number is {ns}", namespace=ns))))
    task = wait_failed(client, queued["taskId"])
    assert task["kind"] == "memorize:enrich" and task["error"].startswith("ModelUnavailableError")
    llm.script = None
    done = wait_status(lambda: client.memories_detail(queued["taskId"]), timeout=60)
    assert done["status"] == "completed" and done["memoriesInfo"]["summarys"] == [f"My bus pass number is {ns}"]
