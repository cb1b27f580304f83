"""Raw chat messages (``<prefix>Message``, one tenant per cube), per session."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter, Sort

from memos_integrations.domain.models import MessageRecord
from memos_integrations.errors import CubeNotFoundError, StorageError
from memos_integrations.storage.codec import message_from_properties, message_to_properties
from memos_integrations.storage.errors import storage_errors
from memos_integrations.storage.filters import all_of
from memos_integrations.storage.tenants import CubeCollection

__all__ = ["Messages"]


class Messages(CubeCollection):
    """Reads and writes of chat messages (one tenant per cube, see :class:`.tenants.CubeCollection`)."""

    def add(self, messages: Sequence[MessageRecord]) -> None:
        """Store messages; one already stored (same id) is kept as it is."""
        by_cube: dict[str, list[DataObject[dict[str, Any], None]]] = {}
        for msg in messages:
            by_cube.setdefault(msg.cube_id, []).append(DataObject(properties=message_to_properties(msg), uuid=msg.id))
        for cube, objects in by_cube.items():
            with storage_errors(f"message write in cube {cube}"):
                reply = self.tenant(cube).data.insert_many(objects)
            real = {i: e for i, e in reply.errors.items() if "already exists" not in e.message}
            if real:
                raise StorageError(f"message write in cube {cube} failed: {next(iter(real.values())).message}")

    def list(
        self, cube_id: str, session_id: str | None = None, *, user_id: str | None = None, limit: int = 100,
        offset: int = 0,
    ) -> list[MessageRecord]:
        """Messages of a session (or the cube) in the order they were said (oldest first)."""
        parts = []
        if session_id is not None:
            parts.append(Filter.by_property("session_id").equal(session_id))
        if user_id is not None:
            parts.append(Filter.by_property("user_id").equal(user_id))
        try:
            with storage_errors(f"listing messages of cube {cube_id}"):
                reply = self.tenant(cube_id).query.fetch_objects(
                    filters=all_of(parts), limit=limit, offset=offset,
                    sort=Sort.by_property("created_at", ascending=True).by_property("seq", ascending=True),
                )
        except CubeNotFoundError:
            return []
        return [message_from_properties(o.uuid, o.properties) for o in reply.objects]

    def delete(self, cube_id: str, session_id: str | None = None) -> int:
        """Delete a session's messages (every message of the cube without ``session_id``)."""
        where = (Filter.by_property("session_id").equal(session_id) if session_id
                 else Filter.by_property("cube_id").equal(cube_id))
        total = 0
        while True:
            try:
                with storage_errors(f"deleting messages of cube {cube_id}"):
                    reply = self.tenant(cube_id).data.delete_many(where=where)
            except CubeNotFoundError:
                return total
            total += int(reply.successful)
            if reply.matches == 0 or reply.successful == 0:
                return total
