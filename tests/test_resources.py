"""Ownership of created resources through the engine's public API, on the real Weaviate."""

from __future__ import annotations

import uuid

import pytest

from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import PermissionDeniedError
from memos_integrations.server.auth import principal_for


def test_claim_is_exclusive_idempotent_and_listed(hash_engine: MemoryEngine) -> None:
    kb = f"kb_{uuid.uuid4().hex[:8]}"
    first = hash_engine.claim_resource("knowledge_base", kb, "acme", name="Handbook", meta={"files": 0})
    assert first.account == "acme"
    again = hash_engine.claim_resource("knowledge_base", kb, "acme", name="renamed")
    assert again.name == "Handbook"  # the first claim stands
    with pytest.raises(PermissionDeniedError, match="another account"):
        hash_engine.claim_resource("knowledge_base", kb, "globex")
    owned = hash_engine.get_resource("knowledge_base", kb)
    assert owned is not None and owned.account == "acme" and owned.meta == {"files": 0}
    assert kb in {r.resource_id for r in hash_engine.list_resources("knowledge_base", "acme")}
    assert kb not in {r.resource_id for r in hash_engine.list_resources("knowledge_base", "globex")}
    assert hash_engine.release_resource("knowledge_base", kb)
    assert hash_engine.get_resource("knowledge_base", kb) is None
    assert hash_engine.claim_resource("knowledge_base", kb, "globex").account == "globex"


def test_keys_name_their_account() -> None:
    keys = {"k1": {"users": ["a"], "account": "acme"}, "k2": {"users": ["b"], "account": "acme"}, "k3": {"users": ["c"]}}
    one, two, three = (principal_for(keys, f"Token {k}") for k in ("k1", "k2", "k3"))
    assert one.account == two.account == "acme"
    assert three.account.startswith("key-") and three.account != one.account
    assert principal_for({}, None).account == "public"
