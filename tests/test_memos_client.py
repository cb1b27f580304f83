"""Every public method of the official ``MemOSClient`` (MemoryOS 2.0.33) against the live app:
the typed response AND its effect, read back through the SDK or the HTTP API.

Chat, feedback and extraction use the local OpenAI-compatible stub (fake LLM); its answers are
scripted per test with ``server_env.stub.script`` (marker in the prompt -> answer).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest
import requests
from test_server_api import _no_leaked_placeholder, load_memos_client  # noqa: F401 - fixture reused

CLOUD = "/api/openmem/v1"


def sdk(server_env, key: str = "key-alice"):  # type: ignore[no-untyped-def]
    return load_memos_client()(api_key=key, base_url=f"{server_env.url}{CLOUD}")


def fresh(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def script(server_env):  # type: ignore[no-untyped-def]
    """Scripted answers of the fake LLM for this test only."""
    rules = server_env.stub.script
    before = len(rules)
    yield rules
    del rules[before:]


def wait_done(client, task_id: str) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while True:
        status = client.get_task_status(task_id).data.status
        if status in ("completed", "failed") or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def values(found) -> list[str]:  # type: ignore[no-untyped-def]
    return [d.model_dump()["memory_value"] for d in found.data.memory_detail_list]


def tiny_pdf(text: str) -> bytes:
    """A one-page PDF whose text layer says ``text`` (hand-written objects, valid xref)."""
    stream = f"BT /F1 12 Tf 72 712 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>"),
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# the nine basic methods


def test_messages_tasks_search_get_delete(server_env) -> None:  # type: ignore[no-untyped-def]
    """add_message, get_task_status, search_memory, get_memory, get_memory_by_id, get_message,
    delete_memory."""
    client = sdk(server_env, "key-admin")
    user = fresh("u")
    added = client.add_message(messages=[{"role": "user", "content": "My violin teacher is called Ines"}],
                               user_id=user, conversation_id="c1", tags=["music"])
    assert added.success and added.task_id
    assert wait_done(client, added.task_id) == "completed"
    found = client.search_memory(query="violin teacher", user_id=user, relativity=0)
    hit = next(d.model_dump() for d in found.memories if "Ines" in d.model_dump()["memory_value"])
    assert "music" in hit["tags"]
    page = client.get_memory(user_id=user, size=5)
    assert page.data.total >= 1 and page.data.profile_detail_list == []
    assert client.get_memory_by_id(hit["id"])["data"]["id"] == hit["id"]
    assert client.get_message(user_id=user, conversation_id="c1").messages
    assert client.delete_memory(memory_ids=[hit["id"]]).success
    assert "Ines" not in " ".join(values(client.search_memory(query="violin teacher", user_id=user, relativity=0)))


# ---------------------------------------------------------------------------------------------
# knowledge bases


def test_knowledge_base_lifecycle(server_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """create_knowledgebase, add_knowledgebase_file_json / _form (.md .txt .pdf .docx .html),
    get_knowledgebase_file, search_memory and chat with knowledgebase_ids, delete_knowledgebase_file,
    delete_knowledgebase; another account gets 403."""
    from docx import Document

    alice = sdk(server_env, "key-alice")
    created = alice.create_knowledgebase("Handbook", "the staff handbook")
    kb = created.knowledgebase_id
    assert kb.startswith("kb_")

    added = alice.add_knowledgebase_file_json(kb, [{"file_name": "leave.md",
                                                    "content": "# Leave\n\nStaff get thirty vacation days per year."}])
    assert added.memories[0]["status"] == "completed" and added.memories[0]["chunk_count"] == 1
    md_file = added.memories[0]["id"]

    (tmp_path / "parking.txt").write_text("Parking permits are issued by the front desk on Mondays.")
    (tmp_path / "badge.pdf").write_bytes(tiny_pdf("Lost badges are replaced by security in room 12."))
    document = Document()
    document.add_paragraph("The canteen serves vegetarian lunch every Thursday.")
    document.save(tmp_path / "canteen.docx")
    (tmp_path / "wifi.html").write_text("<html><head><style>p{}</style><script>var x=1;</script></head>"
                                        "<body><p>The guest wifi password rotates weekly.</p></body></html>")
    form = alice.add_knowledgebase_file_form(
        kb, [str(tmp_path / n) for n in ("parking.txt", "badge.pdf", "canteen.docx", "wifi.html")])
    assert [f["file_name"] for f in form.memories] == ["parking.txt", "badge.pdf", "canteen.docx", "wifi.html"]

    listed = alice.get_knowledgebase_file(knowledgebase_id=kb, page=1, page_size=10)
    assert listed.data.total == 5 and len(listed.files) == 5
    only_pdf = alice.get_knowledgebase_file(knowledgebase_id=kb, type="pdf")
    assert [f.model_dump()["file_name"] for f in only_pdf.files] == ["badge.pdf"]
    assert alice.get_knowledgebase_file(file_ids=[md_file]).files[0].model_dump()["file_name"] == "leave.md"

    user = server_env.alice
    for query, expected in (("vacation days per year", "thirty vacation days"),
                            ("parking permits front desk", "Parking permits"),
                            ("lost badges security", "Lost badges"),
                            ("vegetarian lunch canteen", "vegetarian lunch"),
                            ("guest wifi password", "wifi password")):
        found = alice.search_memory(query=query, user_id=user, knowledgebase_ids=[kb], relativity=0)
        assert any(expected in v for v in values(found)), (query, values(found))
    everything = alice.search_memory(query="vacation days", user_id=user, knowledgebase_ids=["all"], relativity=0)
    assert any("thirty vacation days" in v for v in values(everything))
    assert not any("thirty vacation days" in v
                   for v in values(alice.search_memory(query="vacation days", user_id=user, relativity=0)))
    assert "var x" not in " ".join(values(alice.search_memory(query="wifi", user_id=user, knowledgebase_ids=[kb],
                                                              relativity=0)))

    # chat reads the knowledge base too (fake LLM: the prompt it got holds the handbook text)
    reply = alice.chat(user_id=user, conversation_id="kb-chat", query="How many vacation days do staff get?",
                       knowledgebase_ids=[kb], add_message_on_answer=False, relativity=0)
    assert reply.response.startswith("Stub answer")
    prompt = json.dumps(server_env.stub.requests[-1]["messages"], ensure_ascii=False)
    assert "thirty vacation days" in prompt

    # another account may neither read nor change it
    bob = sdk(server_env, "key-bob")
    with pytest.raises(requests.HTTPError) as denied:
        bob.search_memory(query="vacation", user_id=server_env.bob, knowledgebase_ids=[kb])
    assert denied.value.response.status_code == 403
    with pytest.raises(requests.HTTPError) as denied:
        bob.delete_knowledgebase(kb)
    assert denied.value.response.status_code == 403
    assert "thirty vacation days" not in " ".join(
        values(bob.search_memory(query="vacation days", user_id=server_env.bob, knowledgebase_ids=["all"],
                                 relativity=0)))

    assert alice.delete_knowledgebase_file([md_file]).success
    gone = alice.search_memory(query="vacation days per year", user_id=user, knowledgebase_ids=[kb], relativity=0)
    assert not any("thirty vacation days" in v for v in values(gone))
    assert alice.get_knowledgebase_file(knowledgebase_id=kb).data.total == 4

    assert alice.delete_knowledgebase(kb).success
    with pytest.raises(requests.HTTPError) as missing:
        alice.search_memory(query="parking", user_id=user, knowledgebase_ids=[kb])
    assert missing.value.response.status_code == 404


def test_knowledge_base_rejects_what_it_cannot_read(server_env) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=server_env.url + CLOUD, headers={"Authorization": "Token key-alice"}) as http:
        kb = http.post("/create/knowledgebase", json={"knowledgebase_name": "x"}).json()["data"]["id"]
        bad = http.post("/add/knowledgebase-file", json={"knowledgebase_id": kb,
                                                         "file": [{"file_name": "a.exe", "file_data": "AAAA"}]})
        assert bad.status_code == 400 and "unsupported type" in bad.json()["message"]
        url = http.post("/add/knowledgebase-file", json={"knowledgebase_id": kb,
                                                         "file": [{"url": "http://example.com/a.pdf"}]})
        assert url.status_code == 400 and "url" in url.json()["message"]


def test_large_document_is_a_task(server_env) -> None:  # type: ignore[no-untyped-def]
    alice = sdk(server_env, "key-alice")
    kb = alice.create_knowledgebase("Big").knowledgebase_id
    text = "\n\n".join(f"Section {n}: the quarterly figure for region {n} was {n * 7} units." for n in range(600))
    added = alice.add_knowledgebase_file_json(kb, [{"file_name": "big.txt", "content": text}])
    entry = added.memories[0]
    assert entry["task_id"]
    assert wait_done(alice, entry["task_id"]) == "completed"
    assert alice.get_knowledgebase_file(file_ids=[entry["id"]]).files[0].model_dump()["status"] == "completed"
    found = alice.search_memory(query="quarterly figure for region 77", user_id=server_env.alice,
                                knowledgebase_ids=[kb], relativity=0)
    assert any("region 77" in v for v in values(found))


# ---------------------------------------------------------------------------------------------
# update, feedback, extract, rerank


def _add_sync(client, user: str, text: str) -> None:  # type: ignore[no-untyped-def]
    added = client.add_message(messages=[{"role": "user", "content": text}], user_id=user, async_mode=False)
    assert added.success and added.status == "completed"


def test_update_memory_changes_search(server_env) -> None:  # type: ignore[no-untyped-def]
    client = sdk(server_env, "key-admin")
    user = fresh("upd")
    _add_sync(client, user, "My favourite bakery is on Rua Augusta")
    hit = client.search_memory(query="favourite bakery", user_id=user, relativity=0).memories[0].model_dump()

    reply = client.update_memory(hit["id"], content="My favourite bakery is in Alfama", title="bakery")
    assert reply["data"]["success"] and reply["data"]["memory_key"] == "bakery"
    texts = values(client.search_memory(query="favourite bakery", user_id=user, relativity=0))
    assert "My favourite bakery is in Alfama" in texts and not any("Augusta" in t for t in texts)
    log = client.get_memory_by_id(hit["id"])["data"]
    assert log["memory_value"] == "My favourite bakery is in Alfama"

    client.update_memory(hit["id"], status="invalid")
    assert hit["id"] not in [d.model_dump()["id"] for d in
                             client.search_memory(query="favourite bakery", user_id=user, relativity=0).memories]
    with httpx.Client(base_url=server_env.url) as http:
        item = http.get(f"/product/get_memory/{hit['id']}", headers={"Authorization": "Token key-admin"}).json()
    reasons = [c["reason"] for c in item["data"]["metadata"]["change_log"]]
    assert len(reasons) == 3 and item["data"]["metadata"]["status"] == "invalid"
    with pytest.raises(requests.HTTPError) as bad:
        client.update_memory(hit["id"], status="gone")
    assert bad.value.response.status_code == 400


def test_feedback_corrects_a_memory(server_env, script) -> None:  # type: ignore[no-untyped-def]
    """fake LLM: the scripted plan replaces the Lisbon memory with Porto."""
    client = sdk(server_env, "key-admin")
    user = fresh("fb")
    _add_sync(client, user, "I live in Lisbon near the river")
    old = client.search_memory(query="where do I live", user_id=user, relativity=0).memories[0].model_dump()
    marker = f"moved-{uuid.uuid4().hex[:6]}"
    script.append((marker, json.dumps({"corrections": [{"ref": 1, "action": "update",
                                                        "memory": "The user lives in Porto",
                                                        "reason": "the user moved"}], "additions": []})))
    reply = client.add_feedback(user_id=user, feedback_content=f"That's outdated, I live in Porto now ({marker})",
                                conversation_id="c-fb")
    assert reply.success and reply.task_id
    texts = values(client.search_memory(query="where do I live", user_id=user, relativity=0))
    assert "The user lives in Porto" in texts and not any("Lisbon" in t for t in texts)
    with httpx.Client(base_url=server_env.url) as http:
        item = http.get(f"/product/get_memory/{old['id']}", headers={"Authorization": "Token key-admin"}).json()
    meta = item["data"]["metadata"]
    assert meta["status"] == "invalid" and meta["superseded_by"]
    assert "feedback" in meta["change_log"][-1]["reason"]


def test_feedback_and_extract_without_a_chat_model_say_what_they_need(server_env) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from memos_integrations.config import Settings
    from memos_integrations.llm.registry import ChatModelRegistry
    from memos_integrations.server.app import create_app

    app = create_app(server_env.engine, Settings(), chat_models=ChatModelRegistry([]))
    with TestClient(app) as client:
        reply = client.post(f"{CLOUD}/add/feedback", json={"user_id": "solo", "feedback_content": "wrong!"})
        assert reply.status_code == 400 and "chat model" in reply.json()["message"]
        extract = client.post(f"{CLOUD}/extract/memory", json={"messages": [{"role": "user", "content": "hi"}]})
        assert extract.status_code == 400 and "chat model" in extract.json()["message"]


def test_extract_memory_stores_nothing(server_env, script) -> None:  # type: ignore[no-untyped-def]
    """fake LLM: the scripted extraction comes back; the user's memory stays empty."""
    client = sdk(server_env, "key-admin")
    marker = f"cat-{uuid.uuid4().hex[:6]}"
    script.append((marker, json.dumps({"summary": "A cat.", "facts": [
        {"key": "pet", "value": "The user has a cat named Miso"}], "preferences": [
        {"preference": "The user likes green tea"}]})))
    reply = client.extract_memory([{"role": "user", "content": f"My cat Miso ({marker}) loves me; I like green tea"}],
                                  extraction_types=["fact"])
    data = reply["data"]
    assert [f["value"] for f in data["facts"]] == ["The user has a cat named Miso"]
    assert "preferences" not in data
    with pytest.raises(requests.HTTPError):
        client.extract_memory([{"role": "user", "content": "x"}], extraction_types=["dreams"])


def test_rerank_orders_by_relevance(server_env) -> None:  # type: ignore[no-untyped-def]
    client = sdk(server_env)
    docs = ["Cats sleep most of the day", "The train to Porto leaves at nine", "Porto train tickets cost 20 euros"]
    reply = client.rerank("train to Porto", docs, top_n=2)
    results = reply["data"]["results"]
    assert len(results) == 2 and {r["index"] for r in results} == {1, 2}
    assert results[0]["relevance_score"] >= results[1]["relevance_score"]
    with pytest.raises(requests.HTTPError):
        client.rerank("x", ["y"], model="bge-reranker")


# ---------------------------------------------------------------------------------------------
# profiles


def test_profiles_bind_edit_delete(server_env) -> None:  # type: ignore[no-untyped-def]
    alice = sdk(server_env, "key-alice")
    user = server_env.alice
    template = fresh("tpl")
    bound = alice.bind_profile_template([{"profile_template_id": template, "user_id": user,
                                          "metadata": {"city": "Lisbon", "diet": "vegan"}}])
    assert bound["data"]["profile_detail_list"][0]["metadata"] == {"city": "Lisbon", "diet": "vegan"}
    edited = alice.edit_profile(template, user_id=user, metadata={"city": "Porto"}, remove_fields=["diet"])
    assert edited["data"]["metadata"] == {"city": "Porto"}
    found = alice.search_memory(query="anything", user_id=user)
    profile = next(p.model_dump() for p in found.data.profile_detail_list
                   if p.model_dump()["profile_template_id"] == template)
    assert profile["metadata"] == {"city": "Porto"} and profile["user_id"] == user

    bob = sdk(server_env, "key-bob")
    with pytest.raises(requests.HTTPError) as denied:
        bob.bind_profile_template([{"profile_template_id": template, "user_id": server_env.bob}])
    assert denied.value.response.status_code == 403

    assert alice.delete_profile(template, user_id=user)["data"]["success"]
    after = alice.search_memory(query="anything", user_id=user)
    assert template not in [p.model_dump()["profile_template_id"] for p in after.data.profile_detail_list]


# ---------------------------------------------------------------------------------------------
# chat and the fields this server does not do


def test_chat_and_refused_fields(server_env) -> None:  # type: ignore[no-untyped-def]
    """fake LLM: chat answers; fields this server does not do are refused by name."""
    client = sdk(server_env)
    user = server_env.alice
    reply = client.chat(user_id=user, conversation_id="c-x", query="hello there", add_message_on_answer=False)
    assert reply.response.startswith("Stub answer to: hello there")
    with httpx.Client(base_url=server_env.url + CLOUD, headers={"Authorization": "Token key-alice"}) as http:
        for path, body, field in (
            ("/chat", {"user_id": user, "conversation_id": "c", "query": "q", "internet_search": True},
             "internet_search"),
            ("/chat", {"user_id": user, "conversation_id": "c", "query": "q", "force_stop": True}, "force_stop"),
            ("/add/message", {"user_id": user, "messages": [{"role": "user", "content": "x"}], "allow_public": True},
             "allow_public"),
            ("/search/memory", {"user_id": user, "query": "q", "include_memory_view": ["a"]}, "include_memory_view"),
        ):
            answer = http.post(path, json=body)
            assert answer.status_code == 400 and field in answer.json()["message"], (path, answer.text)


def test_profile_fields_follow_memories(server_env) -> None:  # type: ignore[no-untyped-def]
    """A profile field named like a memory's title shows the newest of the memory and the edit."""
    client = sdk(server_env, "key-admin")
    user = fresh("prof")
    template = fresh("tpl")
    client.bind_profile_template([{"profile_template_id": template, "user_id": user,
                                   "metadata": {"residence": None, "diet": "vegan"}}])
    _add_sync(client, user, "I moved to Coimbra in March")
    memory = client.search_memory(query="moved to Coimbra", user_id=user, relativity=0).memories[0].model_dump()
    client.update_memory(memory["id"], title="residence")

    def fields() -> dict:  # type: ignore[type-arg]
        found = client.search_memory(query="anything", user_id=user)
        return next(p.model_dump() for p in found.data.profile_detail_list)["metadata"]

    assert fields() == {"residence": memory["memory_value"], "diet": "vegan"}
    client.edit_profile(template, user_id=user, metadata={"residence": "Braga"})
    assert fields()["residence"] == "Braga"
