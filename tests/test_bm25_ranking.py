"""BM25 ranking on the real Weaviate with a term that every memory shares.

Raw fast-mode memories all start with the speaker's name, so a query naming the speaker holds one
term common to the whole cube. Weaviate 1.35's BlockMax WAND index then pruned the documents that
matched the rare, meaningful terms (LoCoMo dev BM25 recall@10 fell from 0.44 to 0.05); the fixed
index (1.38) must rank them first, as plain BM25 does.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from memos_integrations.domain.models import MemoryRecord
from memos_integrations.storage.store import MemoryStore

FILLER = ["went", "hiking", "painted", "a", "picture", "talked", "about", "work", "visited", "family", "watched", "a", "movie", "cooked", "dinner", "read", "a", "book", "played", "guitar", "took", "photos", "went", "running", "planted", "flowers"]


def test_rare_terms_outrank_a_term_every_memory_shares(weaviate_client: Any) -> None:
    store = MemoryStore(weaviate_client, prefix="Bm25", vector_dim=4)
    store.setup()
    cube = f"bm25_{uuid.uuid4().hex[:8]}"
    rng = random.Random(5)
    records = [MemoryRecord(cube_id=cube, user_id="u", memory="Caroline: " + " ".join(rng.choices(FILLER, k=8)),
                            vector=[rng.random() for _ in range(4)]) for _ in range(300)]
    targets = ["Caroline: I contacted an adoption agency about fostering",
               "Caroline: the adoption agency interview is next week",
               "Caroline: fostering and adoption paperwork is done"]
    records += [MemoryRecord(cube_id=cube, user_id="u", memory=t, vector=[0.5, 0.5, 0.5, 0.5]) for t in targets]
    rng.shuffle(records)
    store.insert_many(records).raise_for_errors()
    hits = store.search([cube], query="Caroline adoption agency fostering", mode="bm25", limit=10)
    assert {h.record.memory for h in hits[:3]} == set(targets), [h.record.memory for h in hits[:5]]
