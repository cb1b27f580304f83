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


def test_structured_json_log_line_per_request_with_request_id(server_env: Any) -> None:
    """The JSON log format of ``serve`` (server/logs.py) on a live request: one access line with
    the route, status, duration and the request id, and app log lines carry the same id."""
    import io
    import json

    from pythonjsonlogger.json import JsonFormatter

    from memos_integrations.config import Settings
    from memos_integrations.server.logs import ACCESS_LOGGER, RequestIdFilter, log_config

    config = log_config(Settings(MEMOS_LOG_FORMAT="json"))
    spec = {k: v for k, v in config["formatters"]["default"].items() if k != "()"}
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(**spec))
    handler.addFilter(RequestIdFilter())
    access = logging.getLogger(ACCESS_LOGGER)
    old_level = access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        with httpx.Client(base_url=server_env.url, timeout=60) as http:
            response = http.post("/product/search", headers={**_auth("key-alice"), "X-Request-ID": "json-log-7"},
                                 json={"user_id": server_env.alice, "query": "beehives"})
        assert response.status_code == 200
    finally:
        access.removeHandler(handler)
        access.setLevel(old_level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    mine = [line for line in lines if line.get("request_id") == "json-log-7"]
    assert len(mine) == 1, lines
    entry = mine[0]
    assert entry["logger"] == ACCESS_LOGGER and entry["level"] == "INFO"
    assert entry["route"] == "/product/search" and entry["method"] == "POST" and entry["status"] == 200
    assert entry["duration_ms"] > 0 and "timestamp" in entry
    assert log_config(Settings(MEMOS_LOG_FORMAT="text"))["formatters"]["default"]["format"].count("request_id") == 1
