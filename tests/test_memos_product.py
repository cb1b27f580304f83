"""The MemOS open-source routes added for issue 13 (``/product/*``), end to end over HTTP:
get_all, get_memory_by_ids, feedback, suggestions, create_cube / register_cube (ownership),
scheduler/allstatus, chat threshold and skill recall, is_feedback / is_upload_skill on add.

Chat, feedback and suggestions use the local stub (fake LLM), scripted per test.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Token {key}"}


def fresh(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def http(server_env):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=server_env.url, timeout=60) as client:
        yield client


@pytest.fixture
def script(server_env):  # type: ignore[no-untyped-def]
    rules = server_env.stub.script
    before = len(rules)
    yield rules
    del rules[before:]


def add(http, user: str, text: str, key: str = "key-admin", **extra) -> dict:  # type: ignore[no-untyped-def]
    reply = http.post("/product/add", headers=auth(key), json={
        "user_id": user, "async_mode": "sync", "mode": "fast",
        "messages": [{"role": "user", "content": text}], **extra})
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_get_all_paged_and_searched(http) -> None:  # type: ignore[no-untyped-def]
    user = fresh("all")
    for text in ("I collect vinyl records", "I run every Sunday morning", "My vinyl player is a Technics"):
        add(http, user, text)
    page = http.post("/product/get_all", headers=auth("key-admin"),
                     json={"user_id": user, "memory_type": "text_mem", "page": 1, "page_size": 2}).json()
    bucket = page["data"][0]
    assert bucket["cube_id"] == user and bucket["memory_statistics"]["total_nodes"] == 3
    assert len(bucket["memories"][0]["nodes"]) == 2
    second = http.post("/product/get_all", headers=auth("key-admin"),
                       json={"user_id": user, "memory_type": "text_mem", "page": 2, "page_size": 2}).json()
    assert len(second["data"][0]["memories"][0]["nodes"]) == 1
    found = http.post("/product/get_all", headers=auth("key-admin"), json={
        "user_id": user, "memory_type": "text_mem", "search_query": "vinyl", "search_type": "fulltext"}).json()
    assert {n["memory"].split(": ", 1)[-1] for n in found["data"][0]["memories"][0]["nodes"]} == {
        "I collect vinyl records", "My vinyl player is a Technics"}
    act = http.post("/product/get_all", headers=auth("key-admin"), json={"user_id": user, "memory_type": "act_mem"})
    assert act.json()["data"][0]["memories"][0]["nodes"] == []
    bad = http.post("/product/get_all", headers=auth("key-admin"), json={"user_id": user, "memory_type": "x"})
    assert bad.status_code == 422


def test_get_memory_by_ids_respects_the_key(server_env, http) -> None:  # type: ignore[no-untyped-def]
    add(http, server_env.alice, "Alice keeps bees on her roof", key="key-alice")
    add(http, server_env.bob, "Bob keeps snails in a tank", key="key-bob")
    ids = [http.post("/product/search", headers=auth(k), json={"user_id": u, "query": q, "relativity": 0}).json()
           ["data"]["text_mem"][0]["memories"][0]["id"]
           for k, u, q in (("key-alice", server_env.alice, "bees"), ("key-bob", server_env.bob, "snails"))]
    mine = http.post("/product/get_memory_by_ids", headers=auth("key-alice"), json=ids).json()
    assert [m["id"] for m in mine["data"]["memories"]] == [ids[0]]


def test_feedback_route_and_is_feedback_add(http, script) -> None:  # type: ignore[no-untyped-def]
    """fake LLM: /product/feedback and /product/add is_feedback both correct the memory."""
    user = fresh("pfb")
    add(http, user, "My dentist is Dr. Silva")
    marker = f"dentist-{uuid.uuid4().hex[:6]}"
    script.append((marker, json.dumps({"corrections": [{"ref": 1, "action": "update",
                                                        "memory": "The user's dentist is Dr. Costa"}],
                                       "additions": ["The user changed dentists in 2024"]})))
    reply = http.post("/product/feedback", headers=auth("key-admin"), json={
        "user_id": user, "history": [{"role": "user", "content": "who is my dentist?"}],
        "feedback_content": f"No, it's Dr. Costa now {marker}"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["message"] == "Memory feedback successfully" and len(body["data"][0]["invalidated_ids"]) == 1
    found = http.post("/product/search", headers=auth("key-admin"),
                      json={"user_id": user, "query": "dentist", "relativity": 0}).json()
    texts = [m["memory"] for b in found["data"]["text_mem"] for m in b["memories"]]
    assert "The user's dentist is Dr. Costa" in texts and not any("Silva" in t for t in texts)

    marker2 = f"costa-{uuid.uuid4().hex[:6]}"
    script.append((marker2, json.dumps({"corrections": [], "additions": ["The user's dentist is in Lisbon"]})))
    again = http.post("/product/add", headers=auth("key-admin"), json={
        "user_id": user, "is_feedback": True, "messages": [{"role": "user", "content": f"the clinic is in Lisbon {marker2}"}]})
    assert again.status_code == 200 and again.json()["message"] == "Memory feedback successfully"
    assert again.json()["data"][0]["added"][0]["memory"] == "The user's dentist is in Lisbon"


def test_suggestions_generated_and_from_titles(server_env, http, script) -> None:  # type: ignore[no-untyped-def]
    """fake LLM: generated suggestions; without a usable answer, suggestions from the memories."""
    user = fresh("sug")
    add(http, user, f"I am learning Japanese {user}")
    plain = http.post("/product/suggestions", headers=auth("key-admin"),
                      json={"user_id": user, "mem_cube_id": user, "language": "en"}).json()
    assert plain["data"]["query"] and "Japanese" in plain["data"]["query"][0]
    script.append((user, json.dumps({"query": ["How is my Japanese going?", "Any kanji tips?", "Next lesson?"]})))
    generated = http.post("/product/suggestions", headers=auth("key-admin"),
                          json={"user_id": user, "mem_cube_id": user, "language": "en"}).json()
    assert generated["data"]["query"] == ["How is my Japanese going?", "Any kanji tips?", "Next lesson?"]


def test_cubes_belong_to_the_creating_account(server_env, http) -> None:  # type: ignore[no-untyped-def]
    cube_id = fresh("team")
    created = http.post("/product/create_cube", headers=auth("key-alice"),
                        json={"cube_name": "team notes", "owner_id": server_env.alice, "cube_id": cube_id})
    assert created.status_code == 200 and created.json()["data"] == {
        "cube_id": cube_id, "cube_name": "team notes", "owner_id": server_env.alice}
    add(http, server_env.alice, "The team offsite is in Sintra", key="key-alice", writable_cube_ids=[cube_id])
    found = http.post("/product/search", headers=auth("key-alice"), json={
        "user_id": server_env.alice, "query": "offsite", "readable_cube_ids": [cube_id], "relativity": 0}).json()
    assert "Sintra" in found["data"]["text_mem"][0]["memories"][0]["memory"]
    for path, body in (("/product/search", {"user_id": server_env.bob, "query": "offsite", "readable_cube_ids": [cube_id]}),
                       ("/product/create_cube", {"cube_name": "x", "owner_id": server_env.bob, "cube_id": cube_id}),
                       ("/product/register_cube", {"mem_cube_name_or_path": cube_id})):
        denied = http.post(path, headers=auth("key-bob"), json=body)
        assert denied.status_code == 403, (path, denied.text)
    registered = http.post("/product/register_cube", headers=auth("key-bob"), json={"mem_cube_name_or_path": fresh("bobcube")})
    assert registered.status_code == 200 and registered.json()["data"]["cube_id"].startswith("bobcube_")
    path_refused = http.post("/product/create_cube", headers=auth("key-alice"),
                             json={"cube_name": "x", "owner_id": server_env.alice, "cube_path": "/tmp/c"})
    assert path_refused.status_code == 400 and "cube_path" in path_refused.json()["message"]
    taken = http.post("/product/create_cube", headers=auth("key-bob"),
                      json={"cube_name": "x", "owner_id": server_env.bob, "cube_id": server_env.alice})
    assert taken.status_code == 403


def test_scheduler_allstatus(http) -> None:  # type: ignore[no-untyped-def]
    user = fresh("sched")
    http.post("/product/add", headers=auth("key-admin"), json={
        "user_id": user, "messages": [{"role": "user", "content": "queued memory"}]})
    reply = http.get("/product/scheduler/allstatus", headers=auth("key-admin")).json()
    summary = reply["data"]["all_tasks_summary"]
    assert summary["total"] >= 1 and set(summary) >= {"waiting", "in_progress", "pending", "completed", "failed",
                                                      "cancelled", "total"}


def test_chat_threshold_and_skill_recall(server_env, http) -> None:  # type: ignore[no-untyped-def]
    """fake LLM: ``threshold`` trims the facts in the prompt; uploaded skills are recalled by chat."""
    user = fresh("thr")
    for text in ("My garden roses bloom in May", "The tax office closes at noon", "Quantum chips need cooling",
                 "Bicycles have two wheels", "Mount Fuji is tall", "Sardines come in tins"):
        add(http, user, text)
    counts = {}
    for threshold in (0.0, 1.0):
        with http.stream("POST", "/product/chat/stream", headers=auth("key-admin"), json={
                "user_id": user, "query": "garden roses bloom in May", "relativity": 0, "threshold": threshold,
                "add_message_on_answer": False}) as r:
            r.read()
        counts[threshold] = server_env.stub.requests[-1]["messages"][0]["content"].count("User:")
    assert counts[0.0] == 6 and counts[1.0] == 3  # under the threshold: only min_memories (3) kept

    added = add(http, user, "How to brew pour-over coffee: grind medium-fine, bloom 30 seconds, pour slowly",
                is_upload_skill=True)
    assert added["data"][0]["memory_type"] == "SkillMemory"
    reply = http.post("/product/chat/complete", headers=auth("key-admin"), json={
        "user_id": user, "query": "how do I brew pour-over coffee?", "relativity": 0, "add_message_on_answer": False})
    assert reply.status_code == 200
    assert "bloom 30 seconds" in server_env.stub.requests[-1]["messages"][0]["content"]


def test_fields_this_server_does_not_do_are_refused_by_name(server_env, http) -> None:  # type: ignore[no-untyped-def]
    user = server_env.alice
    for path, body, field in (
        ("/product/search", {"user_id": user, "query": "q", "neighbor_discovery": True}, "neighbor_discovery"),
        ("/product/search", {"user_id": user, "query": "q", "rerank": False}, "rerank"),
        ("/product/search", {"user_id": user, "query": "q", "operation": [{"op": "x"}]}, "operation"),
        ("/product/chat/complete", {"user_id": user, "query": "q", "moscube": True}, "moscube"),
        ("/product/add", {"user_id": user, "messages": "x", "operation": [{"op": "x"}]}, "operation"),
    ):
        reply = http.post(path, headers=auth("key-alice"), json=body)
        assert reply.status_code == 422 and field in reply.json()["message"], (path, reply.text)
