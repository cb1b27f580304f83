"""LangChain's own standard retriever tests (``langchain-tests``
``RetrieversIntegrationTests``) against :class:`MemoryRetriever` on the real Weaviate, with the
number of results named both ways: LangChain's ``k`` and MemOS's ``top_k`` — as constructor
fields and as keyword arguments of ``invoke`` / ``ainvoke``. No test of the suite is dropped."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import RetrieversIntegrationTests

from memos_integrations.domain.requests import MemorizeRequest
from memos_integrations.engine import MemoryEngine
from memos_integrations.langchain import MemoryRetriever

FACTS = [
    "I live in Lisbon near the river", "My sister Ana lives in Porto", "I work as a nurse at the city hospital",
    "I play the violin on Sundays", "My cat is called Tuanzi", "I moved to Lisbon in 2021",
]


@pytest.fixture(scope="module")
def stored_user(hash_engine: MemoryEngine) -> str:
    user = f"conf_{uuid.uuid4().hex[:8]}"
    hash_engine.memorize(MemorizeRequest(user_id=user, messages=[{"role": "user", "content": f} for f in FACTS]))
    return user


class _Suite(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _setup(self, hash_engine: MemoryEngine, stored_user: str) -> None:
        self._params = {"engine": hash_engine, "user_id": stored_user, "relativity": 0.0}

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return MemoryRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return self._params

    @property
    def retriever_query_example(self) -> str:
        return "Where do I live and what do I do?"


class TestStandardRetrieverWithK(_Suite):
    """The suite with LangChain's ``k``."""

    @property
    def num_results_arg_name(self) -> str:
        return "k"


class TestStandardRetrieverWithTopK(_Suite):
    """The suite with MemOS's ``top_k``."""

    @property
    def num_results_arg_name(self) -> str:
        return "top_k"


async def test_k_per_call_on_the_async_path(hash_engine: MemoryEngine, stored_user: str) -> None:
    retriever = MemoryRetriever(engine=hash_engine, user_id=stored_user, relativity=0.0)
    assert len(await retriever.ainvoke("Where do I live?", k=2)) == 2
    assert len(await retriever.ainvoke("Where do I live?", top_k=4)) == 4
    assert len(MemoryRetriever(engine=hash_engine, user_id=stored_user, relativity=0.0, k=5).invoke("cat")) == 5


def test_bad_k_is_a_clear_error(hash_engine: MemoryEngine, stored_user: str) -> None:
    from memos_integrations.errors import InvalidRequestError

    retriever = MemoryRetriever(engine=hash_engine, user_id=stored_user)
    with pytest.raises(InvalidRequestError, match="k must be between 1 and 25"):
        retriever.invoke("cat", k=0)
    with pytest.raises(ValueError):
        MemoryRetriever(engine=hash_engine, user_id=stored_user, k=100)
