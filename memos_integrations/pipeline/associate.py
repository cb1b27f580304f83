"""Associative thinking: expand from the entities of the query and of the top hits through stored
relations, one hop per depth level (seed 002's ``associativeThinkingList``).

Entity names are matched exactly (relations store ``source``/``target`` as whole fields), so the
seeds are the memories' own ``entities`` plus candidate names cut from the query: words and
short word n-grams in English, jieba words in Chinese.

Example::

    >>> seed_terms("Where does Alice Smith work?")[:3]
    ['Where', 'does', 'Alice']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from memos_integrations.domain.requests import AssociationGraph, AssociationLink, AssociationNode
from memos_integrations.domain.text import has_cjk

if TYPE_CHECKING:
    from memos_integrations.domain.models import RelationRecord
    from memos_integrations.storage.store import MemoryStore

_WORD = re.compile(r"[A-Za-z0-9][\w'-]*|[\u4e00-\u9fff]+")
MAX_SEEDS = 64


def seed_terms(query: str) -> list[str]:
    """Candidate entity names in a query (exact-match keys for the relation index)."""
    terms: list[str] = []
    if has_cjk(query):
        from memos_integrations.pipeline.keywords import zh_words

        terms.extend(zh_words(query))
    words = [w for w in _WORD.findall(query) if not has_cjk(w)]
    terms.extend(words)
    for n in (2, 3):
        terms.extend(" ".join(words[i:i + n]) for i in range(len(words) - n + 1))
    terms.extend(t.lower() for t in list(terms) if t.lower() != t)
    return list(dict.fromkeys(t for t in terms if t.strip()))[:MAX_SEEDS * 2]


def associate(store: MemoryStore, cube_ids: Sequence[str], seeds: Iterable[str], depth: int) -> list[AssociationGraph]:
    """One graph per seed entity that has relations, expanded ``depth`` hops (one store lookup per
    hop for all frontier entities together)."""
    seeds = list(dict.fromkeys(s for s in seeds if s))[: MAX_SEEDS * 2]
    if depth <= 0 or not seeds:
        return []
    # distance of each entity from the seed set, and the links found per hop
    distance: dict[str, int] = {}
    frontier = seeds
    found: list[tuple[int, RelationRecord]] = []
    seen_rel: set[str] = set()
    for hop in range(1, depth + 1):
        relations = store.relations_of(cube_ids, frontier)
        next_frontier: list[str] = []
        for rel in relations:
            if rel.id in seen_rel:
                continue
            seen_rel.add(rel.id)
            found.append((hop, rel))
            for name in (rel.source, rel.target):
                if name not in distance and name not in seeds:
                    distance[name] = hop
                    next_frontier.append(name)
        if not next_frontier:
            break
        frontier = next_frontier
    if not found:
        return []
    # attribute each relation to the seed(s) it is reachable from: BFS per seed over found edges
    adjacency: dict[str, list[tuple[int, RelationRecord]]] = {}
    for hop, rel in found:
        adjacency.setdefault(rel.source, []).append((hop, rel))
        adjacency.setdefault(rel.target, []).append((hop, rel))
    graphs: list[AssociationGraph] = []
    for seed in seeds:
        if seed not in adjacency:
            continue
        graph = _expand(seed, adjacency, depth)
        if graph.links:
            graphs.append(graph)
    return graphs


def _expand(seed: str, adjacency: dict[str, list[tuple[int, RelationRecord]]], depth: int) -> AssociationGraph:
    dist = {seed: 0}
    frontier = [seed]
    links: dict[tuple[str, str], AssociationLink] = {}
    for level in range(1, depth + 1):
        nxt: list[str] = []
        for name in frontier:
            for _, rel in adjacency.get(name, []):
                other = rel.target if rel.source == name else rel.source
                if other in dist and dist[other] < level:
                    if (rel.source, rel.target) in links:
                        _add_relation(links[(rel.source, rel.target)], rel)
                        continue
                    if dist[other] < level - 1:
                        continue
                if other not in dist:
                    dist[other] = level
                    nxt.append(other)
                key = (rel.source, rel.target)
                if key not in links:
                    links[key] = AssociationLink(
                        source_id=_node_id(rel.source), source_name=rel.source,
                        target_id=_node_id(rel.target), target_name=rel.target, distance=level,
                    )
                _add_relation(links[key], rel)
        frontier = nxt
        if not frontier:
            break
    nodes = [AssociationNode(id=_node_id(name), name=name) for name in dist]
    return AssociationGraph(nodes=nodes, links=list(links.values()))


def _add_relation(link: AssociationLink, rel: RelationRecord) -> None:
    for entry in link.relations:
        if entry["relation"] == rel.relation:
            entry["maxImpression"] = max(entry["maxImpression"], rel.impression)
            return
    link.relations.append({"relation": rel.relation, "maxImpression": rel.impression})


def _node_id(name: str) -> str:
    import hashlib

    return hashlib.sha1(name.encode("utf-8")).hexdigest()[:16]
