"""The memory inspector (/ui) in a real browser: Debian's Chromium driven by Selenium (system
chromedriver), against the app on a real port over the session's embedded Weaviate and the
default embedding model.

The LLM is a fake (LangChain ``GenericFakeChatModel`` with scripted answers): fine-mode memorize
extracts a fact and a relation, then a contradicting fact invalidates the old one (change log,
``superseded_by``, the old relation corrected); the rest is fast mode (no LLM). Covers browse,
search with score parts, the history timeline, edit, archive, delete, tasks, the graph, and that
key B cannot see key A's users (the page and its JSON endpoints).

Chromium missing is a failure, not a skip: ``scripts/test.sh`` installs it
(``apt-get install chromium chromium-driver``).
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from conftest import _ThreadedUvicorn

from memos_integrations.config import Settings
from memos_integrations.domain.models import (
    MemoryRecord,
    MemoryStatus,
    TaskRecord,
    TaskStatus,
)
from memos_integrations.domain.requests import MemorizeRequest, RecallItem
from memos_integrations.engine import MemoryEngine
from memos_integrations.server.app import create_app
from memos_integrations.storage.store import MemoryStore

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT = 60  # seconds; 2 shared cores


def extraction(key: str, value: str, relations: list[tuple[str, str, str]]) -> str:
    """The fake LLM's fine-mode extraction answer: one fact and its entity relations."""
    return json.dumps({"facts": [{"key": key, "value": value, "memory_type": "UserMemory", "message_indexes": [0]}],
                       "relations": [{"source": a, "relation": r, "target": b} for a, r, b in relations]})


def memorize_fine(engine: MemoryEngine, answers: list[str], **request: Any) -> Any:
    """Fine memorize through an engine whose chat model is a fake LLM answering ``answers`` in order."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    llm = GenericFakeChatModel(messages=iter([AIMessage(content=a) for a in answers]))
    with_llm = MemoryEngine(engine.store, engine.embeddings, llm, settings=engine.settings, start_tasks=False)
    try:
        return with_llm.memorize(MemorizeRequest(mode="fine", **request))
    finally:
        with_llm.tasks.close()


def chrome(width: int = 1400, height: int = 1000) -> Any:
    """Headless Debian Chromium; a missing browser or driver FAILS the test (never skips)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:  # pragma: no cover - dev extra missing
        pytest.fail(f"selenium is not installed ({exc}); pip install -e '.[dev]'")
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not shutil.which(path):
            pytest.fail(f"{path} not found: install Debian's {package} (apt-get install -y chromium chromium-driver; "
                        "scripts/test.sh does it)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    return driver


@pytest.fixture(scope="module")
def ui_env(weaviate_client) -> Iterator[SimpleNamespace]:  # type: ignore[no-untyped-def]
    run = uuid.uuid4().hex[:8]
    alice, bob = f"alice_{run}", f"bob_{run}"
    keys = {"key-a": {"users": [alice]}, "key-b": {"users": [bob]}, "key-admin": {"users": ["*"]}}
    settings = Settings(MEMOS_API_KEYS=keys)
    store = MemoryStore(weaviate_client, prefix="Ui")
    store.setup()
    engine = MemoryEngine(store, settings=settings)  # the default embedding model (e5)
    # fine mode with a scripted fake LLM: a fact and a relation, then a contradicting fact ->
    # the old one invalid, linked to the new one, with a change-log entry; the old relation too
    first = memorize_fine(engine, [extraction("home city", f"{alice} lives in Porto.", [("Alice", "lives in", "Porto")])],
                          user_id=alice, session_id="home", messages=[
                              {"role": "user", "content": "I live in Porto.", "message_id": "msg-41",
                               "chat_time": "2025-01-10T09:00:00Z"}])
    reconcile = json.dumps({
        "facts": [{"index": 0, "decision": "contradiction", "targets": ["M1"], "reason": "moved from Porto to Lisbon"}],
        "relations": [{"index": 0, "decision": "conflict", "targets": ["S1"], "reason": "one home city"}]})
    second = memorize_fine(engine, [extraction("home city", f"{alice} lives in Lisbon.", [("Alice", "lives in", "Lisbon")]),
                                    reconcile],
                           user_id=alice, session_id="move", messages=[
                               {"role": "user", "content": "I moved to Lisbon last month.", "message_id": "msg-42",
                                "chat_time": "2025-04-28T09:00:00Z"}])
    assert second.llm_calls == 2 and second.conflicts, second
    old, new = first.memories[0], second.memories[0]
    engine.memorize(MemorizeRequest(user_id=alice, session_id="trip", mode="fast", messages=[
        {"role": "user", "content": "I am planning a hiking trip to the Dolomites in July.", "chat_time": "2025-05-01T10:00:00Z"},
        {"role": "assistant", "content": "Great choice! Do you need hut recommendations?"},
        {"role": "user", "content": "Yes please. Also I am vegetarian, so no meat dishes.", "chat_time": "2025-05-01T10:02:00Z"},
    ]))
    engine.memorize(MemorizeRequest(user_id=alice, cube_ids=[f"{alice}__work"], mode="fast", messages=[
        {"role": "user", "content": "The quarterly report is due on Friday."}]))
    engine.memorize(MemorizeRequest(user_id=bob, mode="fast", messages=[
        {"role": "user", "content": "My locker code is 4711 and I keep it secret."}]))
    failed = TaskRecord(user_id=alice, kind="memorize:fine", status=TaskStatus.FAILED,
                        error="ModelUnavailableError: the chat model timed out (fake LLM)",
                        request={"user_id": alice, "messages": [{"role": "user", "content": "hi"}], "mode": "fast"})
    store.put_task(failed)
    app = create_app(engine, settings)
    with _ThreadedUvicorn(app) as server:
        yield SimpleNamespace(url=server.url, engine=engine, alice=alice, bob=bob, new=new, old=old, task=failed)
    engine.tasks.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = chrome()
    yield driver
    driver.quit()


def wait_for(driver: Any, css: str, text: str | None = None, timeout: float = WAIT) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout)
    if text is not None:
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    return wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))


def login(driver: Any, url: str, key: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{url}/ui/")
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.ID, "login-submit").click()
    wait_for(driver, "#tree .user")


def go(driver: Any, url: str, fragment: str) -> None:
    driver.get(f"{url}/ui/#{fragment}")


def test_login_then_browse_users_cubes_and_memories_without_llm(ui_env, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    browser.delete_all_cookies()
    browser.get(f"{ui_env.url}/ui/")
    wait_for(browser, "#login-form")  # no key: the login form, not the inspector
    login(browser, ui_env.url, "key-a")
    tree = browser.find_element(By.ID, "tree").text
    assert ui_env.alice in tree and f"{ui_env.alice}__work" in tree and ui_env.bob not in tree
    browser.find_element(By.CSS_SELECTOR, f'#tree a[data-cube="{ui_env.alice}"]').click()
    table = wait_for(browser, "table#memories")
    text = table.text
    assert "Dolomites" in text and "vegetarian" in text and "lives in Lisbon" in text
    assert "raw" in text and "fact" in text and "invalid" in text and "activated" in text
    headers = [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    assert headers[:8] == ["kind", "status", "memory", "happened", "created", "updated", "impression", "recalls"]
    # filter: invalid facts only
    browser.find_element(By.CSS_SELECTOR, "#status option[value=invalid]").click()
    browser.find_element(By.ID, "apply").click()
    wait_for(browser, "#total", "1–1 of 1")
    assert "lives in Porto" in browser.find_element(By.ID, "memories").text


def test_search_and_recall_explained_show_score_parts_and_threshold_cut(ui_env, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    login(browser, ui_env.url, "key-a")
    go(browser, ui_env.url, f"/cube/{ui_env.alice}?q=vegetarian%20food&search=hybrid")
    table = wait_for(browser, "table#memories")
    assert "score" in [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    first = table.find_element(By.CSS_SELECTOR, "tbody tr").text
    assert "vegetarian" in first
    go(browser, ui_env.url, f"/cube/{ui_env.alice}/recall")
    wait_for(browser, "#recall-form")
    browser.find_element(By.ID, "recall-query").send_keys("What should I eat on my hiking trip?")
    threshold = browser.find_element(By.ID, "recall-threshold")
    threshold.clear()
    threshold.send_keys("0.5")
    browser.find_element(By.ID, "recall-run").click()
    prompt = wait_for(browser, "#memory-prompt")
    rows = browser.find_elements(By.CSS_SELECTOR, "#recall-items tbody tr")
    assert rows, "recall explained shows ranked memories"
    kept = [r for r in rows if "kept" in r.get_attribute("class").split()]
    cut = [r for r in rows if "cut" in r.get_attribute("class").split()]
    assert kept and cut, "some memories pass the threshold, the rest are shown as cut"
    assert any("below threshold" in r.text for r in cut)
    assert "vegetarian" in prompt.text  # the exact memoryPrompt that would be injected
    # score parts: whatever parts RecallItem reports, each shown by name; the bar is always there
    cells = browser.find_elements(By.CSS_SELECTOR, "#recall-items .score-parts, #recall-items .partlist")
    assert len(cells) >= len(rows)
    reply = httpx.post(f"{ui_env.url}/ui/api/recall", headers={"Authorization": "Token key-a"}, timeout=WAIT,
                       json={"cube_id": ui_env.alice, "query": "What should I eat on my hiking trip?", "threshold": 0.5})
    assert reply.status_code == 200, reply.text
    items = reply.json()["items"]
    assert all(i["kept"] == (i["cut"] is None) for i in items)
    assert all(i["relativity"] < 0.5 for i in items if i["cut"] == "threshold")
    if "score_parts" in RecallItem.model_fields:
        part_names = {p.get_attribute("data-part") for p in browser.find_elements(By.CSS_SELECTOR, "#recall-items .part")}
        assert part_names, "score parts are rendered by name"
        with_parts = [i for i in items if i["score_parts"]]
        assert with_parts, items
        for item in with_parts:  # weighted contributions that add up to the ranking score
            assert abs(sum(item["score_parts"].values()) - item["score"]) < 0.01, item
            assert {k for k, v in item["score_parts"].items() if abs(v) >= 0.0005} <= part_names  # non-zero parts shown
    # the same prompt; its "current time" line may have passed a minute between the two recalls
    def at_any_minute(text: str) -> str:
        return re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", "<now>", text.strip())

    assert at_any_minute(reply.json()["memory_prompt"]) == at_any_minute(prompt.text)


def test_history_timeline_links_superseded_and_superseding(ui_env, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    login(browser, ui_env.url, "key-a")
    go(browser, ui_env.url, f"/memory/{ui_env.old.id}")
    timeline = wait_for(browser, "#timeline", "moved from Porto to Lisbon")
    assert "invalid" in timeline.text and "msg-41" in timeline.text
    assert "lives in Lisbon" in browser.find_element(By.ID, "memory-fields").text  # superseded by
    timeline.find_element(By.CSS_SELECTOR, "a.memory-ref").click()  # -> the newer memory
    wait_for(browser, "#memory-title", "lives in Lisbon")
    newer = wait_for(browser, "#timeline", "replaced")
    assert "lives in Porto" in newer.text  # the memory it replaced
    assert "msg-42" in newer.text  # from which message


def test_edit_and_archive_are_recorded_in_the_change_log(ui_env, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    login(browser, ui_env.url, "key-a")
    go(browser, ui_env.url, f"/memory/{ui_env.new.id}")
    text = wait_for(browser, "#edit-text")
    text.clear()
    text.send_keys(f"{ui_env.alice} lives in Lisbon, in Alfama.")
    browser.find_element(By.ID, "edit-reason").send_keys("user corrected the district")
    browser.find_element(By.ID, "save").click()
    timeline = wait_for(browser, "#timeline", "in Alfama")
    assert "edited in the inspector" in timeline.text and "user corrected the district" in timeline.text
    assert "lives in Lisbon.'" in timeline.text  # old -> new
    stored = ui_env.engine.get_memory(ui_env.new.id)
    assert stored is not None and stored.memory.endswith("in Alfama.")
    assert stored.change_log[-1].reason.startswith("edited in the inspector: text")
    browser.find_element(By.ID, "archive").click()
    wait_for(browser, "#activate")
    assert ui_env.engine.get_memory(ui_env.new.id).status is MemoryStatus.ARCHIVED  # type: ignore[union-attr]
    assert "archived in the inspector" in browser.find_element(By.ID, "timeline").text
    browser.find_element(By.ID, "activate").click()
    wait_for(browser, "#archive")
    assert ui_env.engine.get_memory(ui_env.new.id).status is MemoryStatus.ACTIVATED  # type: ignore[union-attr]


def test_delete_a_memory(ui_env, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    doomed = MemoryRecord(cube_id=ui_env.alice, user_id=ui_env.alice, memory="Temporary note to delete.")
    ui_env.engine.import_memories([doomed])
    login(browser, ui_env.url, "key-a")
    go(browser, ui_env.url, f"/memory/{doomed.id}")
    wait_for(browser, "#delete").click()
    wait_for(browser, "#delete-confirm").click()
    wait_for(browser, "table#memories")
    assert "Temporary note" not in browser.find_element(By.ID, "memories").text
    assert ui_env.engine.get_memory(doomed.id) is None


def test_relations_graph_and_tasks(ui_env, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    login(browser, ui_env.url, "key-a")
    go(browser, ui_env.url, f"/cube/{ui_env.alice}/graph")
    wait_for(browser, "#graph-summary", "2 entities, 1 relation ")  # fine mode's current relation
    assert browser.execute_script("return window.__inspectorGraph.edges().map(e => e.data('label'))") == ["lives in"]
    assert browser.find_elements(By.CSS_SELECTOR, "#graph canvas")
    browser.find_element(By.CSS_SELECTOR, "#graph-status option[value=all]").click()  # + the corrected one
    wait_for(browser, "#graph-summary", "3 entities, 2 relations")
    targets = browser.execute_script("return window.__inspectorGraph.edges().map(e => e.target().data('label')).sort()")
    assert targets == ["Lisbon", "Porto"]
    go(browser, ui_env.url, "/tasks?status=failed")
    row = wait_for(browser, f'#tasks tr[data-id="{ui_env.task.id}"]')
    assert "timed out (fake LLM)" in row.text
    row.find_element(By.CSS_SELECTOR, "button[data-action=retry]").click()
    # retried: queued again (the worker then fails it again: this engine has no chat model)
    retried = ui_env.engine.find_task(ui_env.task.id)
    assert retried is not None and (retried.status is not TaskStatus.FAILED or retried.updated_at > ui_env.task.updated_at)


def test_key_b_cannot_see_key_a_users_in_the_page_or_json(ui_env, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    login(browser, ui_env.url, "key-b")
    tree = browser.find_element(By.ID, "tree").text
    assert ui_env.bob in tree and ui_env.alice not in tree
    go(browser, ui_env.url, f"/cube/{ui_env.alice}")
    error = wait_for(browser, "#error", "403")
    assert "may not" in error.text
    assert "Dolomites" not in browser.page_source and "Lisbon" not in browser.page_source
    go(browser, ui_env.url, f"/memory/{ui_env.old.id}")
    wait_for(browser, "#error", "404")
    assert "Porto" not in browser.page_source
    go(browser, ui_env.url, "/tasks")
    wait_for(browser, "h1", "Tasks")
    assert ui_env.task.id not in browser.page_source
    # the JSON endpoints, with the header and with the page's cookie
    b = {"Authorization": "Token key-b"}
    with httpx.Client(base_url=ui_env.url, timeout=WAIT) as http:
        users = http.get("/ui/api/users", headers=b).json()["users"]
        assert [u["user_id"] for u in users] == [ui_env.bob]
        for path in (f"/ui/api/cubes/{ui_env.alice}/memories", f"/ui/api/cubes/{ui_env.alice}/memories?q=Lisbon",
                     f"/ui/api/cubes/{ui_env.alice}/relations"):
            reply = http.get(path, headers=b)
            assert reply.status_code == 403 and "Lisbon" not in reply.text, (path, reply.text)
        assert http.post("/ui/api/recall", headers=b, json={"cube_id": ui_env.alice, "query": "where"}).status_code == 403
        assert http.get(f"/ui/api/memories/{ui_env.old.id}", headers=b).status_code == 404
        work = ui_env.engine.list_memories(f"{ui_env.alice}__work")[0]  # a namespace cube of alice
        assert http.get(f"/ui/api/memories/{work.id}", headers=b).status_code == 404
        assert http.get(f"/ui/api/memories/{work.id}", headers={"Authorization": "Token key-a"}).status_code == 200
        assert http.patch(f"/ui/api/memories/{ui_env.old.id}", headers=b, json={"memory": "x"}).status_code == 404
        assert http.delete(f"/ui/api/memories/{ui_env.old.id}", headers=b).status_code == 404
        assert http.post(f"/ui/api/tasks/{ui_env.task.id}/cancel", headers=b).status_code == 404
        assert ui_env.task.id not in http.get("/ui/api/tasks", headers=b).text
        # no key: the page is the login form (401) and the JSON is 401
        page = http.get("/ui/")
        assert page.status_code == 401 and "login-form" in page.text and ui_env.alice not in page.text
        assert http.get("/ui/api/users").status_code == 401
        assert http.get("/ui/api/users", headers={"Authorization": "Token wrong"}).status_code == 401
        # the cookie works for reads; a change with the cookie needs X-Memos-UI (no CSRF)
        http.cookies.set("memos_ui_key", "key-a")
        assert http.get(f"/ui/api/memories/{ui_env.old.id}").status_code == 200
        assert http.delete(f"/ui/api/memories/{ui_env.old.id}").status_code == 403
        assert ui_env.engine.get_memory(ui_env.old.id) is not None


def test_ui_is_off_on_an_open_server_unless_enabled(weaviate_client) -> None:  # type: ignore[no-untyped-def]
    from memos_integrations.llm.embeddings import HashEmbeddings

    store = MemoryStore(weaviate_client, prefix="Ui")
    store.setup()

    engine = MemoryEngine(store, HashEmbeddings(dim=64), settings=Settings(), start_tasks=False)
    try:
        for enabled, page_status in ((None, 404), (False, 404), (True, 200)):
            settings = Settings(MEMOS_UI_ENABLED=enabled) if enabled is not None else Settings()
            with _ThreadedUvicorn(create_app(engine, settings)) as server, httpx.Client(base_url=server.url) as http:
                assert http.get("/ui/").status_code == page_status
                assert http.get("/ui/api/users").status_code == page_status
                if enabled:  # open + enabled: loopback Host only, changes need X-Memos-UI
                    assert http.get("/ui/api/users", headers={"Host": "evil.example"}).status_code == 403
                    assert http.post("/ui/api/tasks/x/cancel").status_code == 403
                    assert http.post("/ui/api/tasks/x/cancel", headers={"X-Memos-UI": "1"}).status_code == 404
                    # static files: gzip when accepted, revalidated by ETag, nothing outside static/
                    js = http.get("/ui/static/app.js", headers={"Accept-Encoding": "gzip"})
                    assert js.status_code == 200 and js.headers["content-encoding"] == "gzip" and "route()" in js.text
                    again = http.get("/ui/static/app.js", headers={"Accept-Encoding": "gzip",
                                                                    "If-None-Match": js.headers["etag"]})
                    assert again.status_code == 304
                    for path in ("/ui/static/../router.py", "/ui/static/%2e%2e/router.py", "/ui/static/index.html"):
                        assert http.get(path).status_code == 404, path
        with _ThreadedUvicorn(create_app(engine, Settings(MEMOS_API_KEYS={"k": {"users": ["u"]}},
                                                          MEMOS_UI_ENABLED=False))) as server:
            assert httpx.get(f"{server.url}/ui/api/users", headers={"Authorization": "Token k"}).status_code == 404
    finally:
        engine.tasks.close()
