"""A local internet search provider for tests: a LangChain retriever with fixed pages (no network)."""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import Field

PAGES = [
    Document(page_content="The Lisbon tram 28 runs from Martim Moniz to Campo de Ourique.",
             metadata={"title": "Tram 28", "url": "https://example.org/tram-28"}),
    Document(page_content="Pasteis de nata were first made at the Jeronimos Monastery.",
             metadata={"title": "Pastel de nata", "url": "https://example.org/nata"}),
]


class StubWebRetriever(BaseRetriever):
    """Returns every page for any query and records the queries it was asked."""

    queries: list[str] = Field(default_factory=list)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        self.queries.append(query)
        return list(PAGES)


retriever = StubWebRetriever()
