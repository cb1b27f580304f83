"""Entity relations (``<prefix>Relation``, one tenant per cube) for associative recall."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter
from weaviate.collections.classes.filters import _Filters

from memos_integrations.domain.models import MemoryStatus, RelationRecord
from memos_integrations.errors import CubeNotFoundError, StorageError, StorageRejectedError
from memos_integrations.storage.codec import relation_from_properties, relation_to_properties
from memos_integrations.storage.errors import storage_errors
from memos_integrations.storage.tenants import CubeCollection

__all__ = ["Relations"]


class Relations(CubeCollection):
    """Reads and writes of entity relations (one tenant per cube, see :class:`.tenants.CubeCollection`)."""

    def upsert(self, relations: Sequence[RelationRecord]) -> None:
        """Insert relations, replacing those whose id exists."""
        by_cube: dict[str, list[DataObject[dict[str, Any], None]]] = {}
        for rel in relations:
            by_cube.setdefault(rel.cube_id, []).append(DataObject(properties=relation_to_properties(rel), uuid=rel.id))
        for cube, objects in by_cube.items():
            coll = self.tenant(cube)
            for obj in objects:
                try:
                    with storage_errors(f"relation lookup in cube {cube}"):
                        exists = coll.data.exists(obj.uuid)
                except (CubeNotFoundError, StorageRejectedError):  # no tenant yet: created on insert
                    exists = False
                with storage_errors(f"relation write in cube {cube}"):
                    if exists:
                        coll.data.replace(uuid=obj.uuid, properties=obj.properties)
                        continue
                    reply = coll.data.insert_many([obj])
                if reply.errors:
                    raise StorageError(f"relation write in cube {cube} failed: {reply.errors[0].message}")

    def of(
        self, cube_ids: Sequence[str], entities: Sequence[str], *,
        statuses: Sequence[MemoryStatus] | None = (MemoryStatus.ACTIVATED,), limit: int = 200,
    ) -> list[RelationRecord]:
        """Relations whose source or target is one of the entities (up to ``limit`` per cube)."""
        if not entities:
            return []
        names = list(dict.fromkeys(entities))
        flt: _Filters = Filter.any_of([
            Filter.by_property("source").contains_any(names),
            Filter.by_property("target").contains_any(names),
        ])
        if statuses:
            flt = flt & Filter.by_property("status").contains_any([s.value for s in statuses])
        found: list[RelationRecord] = []
        for cube in dict.fromkeys(cube_ids):
            try:
                with storage_errors(f"relation lookup in cube {cube}"):
                    reply = self.tenant(cube).query.fetch_objects(filters=flt, limit=limit)
            except CubeNotFoundError:
                continue
            found.extend(relation_from_properties(o.uuid, o.properties) for o in reply.objects)
        return found

    def all(self, cube_id: str, limit: int = 1000) -> list[RelationRecord]:
        """A cube's relations (up to ``limit``)."""
        try:
            with storage_errors(f"listing relations of cube {cube_id}"):
                reply = self.tenant(cube_id).query.fetch_objects(limit=limit)
        except CubeNotFoundError:
            return []
        return [relation_from_properties(o.uuid, o.properties) for o in reply.objects]
