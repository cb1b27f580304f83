"""Bounded property-based fuzzing of EVERY route (schemathesis + hypothesis, issue 15): generated
bodies, parameters and hostile strings (lone surrogates, deep nesting) against the real server
over the session Weaviate with the fake LLM answering. No answer may be a 5xx that is our fault
(a 502 naming the chat model is the fake model's answer, not ours) and none may carry a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fault_model import served_app

ADMIN = {"Authorization": "Token key-admin"}
#: Routes that block by design (waiting for tasks up to the caller's timeout) are fuzzed with a
#: short timeout forced below; everything else is fuzzed as generated.
EXAMPLES_PER_ROUTE = 6


@pytest.fixture(scope="module")
def fuzz_env(weaviate_client: Any) -> Iterator[SimpleNamespace]:
    with served_app(weaviate_client, MEMOS_MODEL_TIMEOUT=5.0) as env:
        env.fake.set("ok")
        yield env


def our_fault(status: int, text: str) -> bool:
    """A 5xx we caused (not the chat model failing, not Weaviate being unavailable)."""
    if status < 500:
        return False
    if status == 502 and "chat model" in text:
        return False
    return not (status == 503 and "Weaviate" in text)


def test_every_route_survives_generated_input_fake_llm(fuzz_env: SimpleNamespace) -> None:
    """Every operation of the OpenAPI schema, a few generated cases each: no 5xx of ours, no
    traceback; plus hostile bodies (surrogates, 200-deep nesting) on every JSON route: 4xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(f"{fuzz_env.url}/openapi.json", headers=ADMIN)
    failures: list[str] = []
    operations = 0
    json_routes: list[tuple[str, str]] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        if operation.method.upper() in ("POST", "PUT", "PATCH") and operation.body:
            json_routes.append((operation.method.upper(), operation.path))

        @settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            if case.query and "timeout_seconds" in case.query:
                case.query["timeout_seconds"] = 0.5  # /scheduler/wait blocks up to the caller's timeout
            response = case.call(base_url=fuzz_env.url, headers=ADMIN, timeout=60)
            text = response.text
            if our_fault(response.status_code, text):
                failures.append(f"{case.method} {case.path} {case.body!r:.200} -> {response.status_code} {text[:200]}")
            assert "Traceback" not in text, text[:500]

        run()
    assert operations >= 30, f"only {operations} operations in the schema"

    deep: Any = "x"
    for _ in range(200):
        deep = {"a": deep}
    hostile = [{"user_id": "u\ud800", "query": "\udfff", "messages": [{"role": "user", "content": "\ud800"}]},
               {"user_id": "u", "info": deep, "filter": deep}]
    for method, path in json_routes:
        if "{" in path:
            continue
        for body in hostile:
            response = fuzz_env.http.request(method, path, content=json.dumps(body).encode(),
                                             headers={**ADMIN, "Content-Type": "application/json"})
            if response.status_code >= 500 or "Traceback" in response.text:
                failures.append(f"{method} {path} hostile -> {response.status_code} {response.text[:200]}")
            elif not 400 <= response.status_code < 500:
                failures.append(f"{method} {path} hostile body accepted ({response.status_code})")
    assert not failures, "\n".join(failures[:15])
