"""Operations on the live app (real port, real Weaviate): Prometheus metrics at ``/metrics`` after a
few requests, and the request id on every response."""

from __future__ import annotations

import logging
from typing import Any

import httpx


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Token {key}"}


def _value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{labels} not in /metrics")


def test_metrics_after_requests_and_request_ids(server_env: Any) -> None:
    with httpx.Client(base_url=server_env.url, timeout=60) as http:
        assert http.get("/metrics").status_code == 401  # keys are configured: the scrape needs one
        before = http.get("/metrics", headers=_auth("key-admin")).text
        added = http.post("/product/add", headers={**_auth("key-alice"), "X-Request-ID": "trace-42"}, json={
            "user_id": server_env.alice, "async_mode": "sync", "mode": "fast",
            "messages": [{"role": "user", "content": "I keep three beehives"}]})
        assert added.status_code == 200 and added.headers["X-Request-ID"] == "trace-42"
        for _ in range(2):
            found = http.post("/product/search", headers=_auth("key-alice"),
                              json={"user_id": server_env.alice, "query": "beehives"})
            assert found.status_code == 200 and len(found.headers["X-Request-ID"]) == 32
        assert http.post("/product/search", headers=_auth("key-bob"),
                         json={"user_id": server_env.alice, "query": "x"}).status_code == 403
        after = http.get("/metrics", headers=_auth("key-admin"))
    assert after.status_code == 200 and after.headers["content-type"].startswith("text/plain")
    text = after.text

    def delta(name: str, **labels: str) -> float:
        try:
            old = _value(before, name, **labels)
        except AssertionError:
            old = 0.0
        return _value(text, name, **labels) - old

    assert delta("memos_http_requests_total", method="POST", route="/product/search", status="200") == 2
    assert delta("memos_http_requests_total", method="POST", route="/product/search", status="403") == 1
    assert delta("memos_http_request_seconds_count", method="POST", route="/product/add") == 1
    assert delta("memos_operations_total", operation="recall", outcome="ok") >= 2
    record = logging.getLogRecordFactory()("memos", logging.INFO, __file__, 1, "outside a request", None, None)
    assert record.request_id == "-"
    assert delta("memos_operations_total", operation="memorize", outcome="ok") >= 1
    assert _value(text, "memos_operation_seconds_count", operation="recall") >= 2
    for status in ("waiting", "in_progress", "failed"):
        assert _value(text, "memos_tasks", status=status) >= 0
