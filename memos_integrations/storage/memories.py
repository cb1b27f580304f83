"""Memory reads and writes: ``<prefix>Memory`` (one tenant per cube) and ``<prefix>MemoryIndex``
(memory id -> cube, so a memory can be read by id alone).

Writes: :meth:`Memories.insert_many`, :meth:`~Memories.update`, :meth:`~Memories.update_many`,
:meth:`~Memories.update_vector`, :meth:`~Memories.delete`, :meth:`~Memories.delete_where`.
Reads: :meth:`~Memories.get`, :meth:`~Memories.get_many`, :meth:`~Memories.list`,
:meth:`~Memories.count`. Searches (BM25, vector, hybrid) are in :mod:`.memory_search`.
A cube that was never written to reads as empty.
"""

from __future__ import annotations

import builtins
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from weaviate.classes.aggregate import GroupByAggregate
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter, Sort
from weaviate.collections.classes.filters import _Filters

from memos_integrations.domain.models import MemoryRecord, MemoryStatus, MemoryType
from memos_integrations.errors import (
    BatchInsertError,
    CubeNotFoundError,
    InvalidRequestError,
    NotFoundError,
    StorageError,
    WeaviateUnavailableError,
)
from memos_integrations.storage.codec import (
    READ_PROPERTIES,
    check_updatable,
    is_uuid,
    properties_to_record,
    record_json,
    record_to_properties,
    sources_json,
    update_properties,
)
from memos_integrations.storage.errors import storage_errors
from memos_integrations.storage.filters import memory_filter
from memos_integrations.storage.schema import RECORD_JSON, tenant_name
from memos_integrations.storage.tenants import TenantActivity

__all__ = ["MAX_PAGE", "BatchResult", "Change", "Memories"]

#: A change computed from the current record (as read under the update lock): the fields to set.
Change = Callable[[MemoryRecord], dict[str, Any]]

logger = logging.getLogger(__name__)

#: Weaviate's default ``QUERY_MAXIMUM_RESULTS``: the most one query (or batch delete) returns.
MAX_PAGE: Final = 10_000
#: The most cubes :meth:`Memories.cube_ids` lists.
_MAX_CUBES: Final = 10_000_000
#: Ids per request when reading or deleting by id.
_ID_CHUNK: Final = 1_000

#: Striped per-memory-id locks serialising the read-modify-write of ``update`` inside this
#: process (shared by every instance, as they may point at the same data).
_UPDATE_LOCKS = tuple(threading.Lock() for _ in range(64))


def _update_lock(memory_id: str) -> threading.Lock:
    return _UPDATE_LOCKS[hash(str(memory_id).lower()) % len(_UPDATE_LOCKS)]


def _chunks(items: Sequence[str], size: int = _ID_CHUNK) -> Iterable[builtins.list[str]]:
    for start in range(0, len(items), size):
        yield builtins.list(items[start:start + size])


@dataclass
class BatchResult:
    """Outcome of a batch insert: ids of stored objects and the reason per rejected input index."""

    ids: builtins.list[str] = field(default_factory=builtins.list)
    errors: dict[int, str] = field(default_factory=dict)

    def raise_for_errors(self) -> None:
        """Raise :class:`BatchInsertError` when any object was rejected."""
        if self.errors:
            first = next(iter(self.errors.items()))
            raise BatchInsertError(
                f"{len(self.errors)} object(s) rejected, e.g. #{first[0]}: {first[1]}", details=self.errors
            )


class Memories:
    """Every read and write of memories.

    Args:
        collection: the ``<prefix>Memory`` collection (not bound to a tenant).
        index: the ``<prefix>MemoryIndex`` collection.
        pool: runs requests in parallel.
        activity: records each cube used (idle cubes are offloaded).
        vector_dim: the vector length; learned from the first stored vector when ``None``.
    """

    def __init__(self, collection: Any, index: Any, *, pool: ThreadPoolExecutor, activity: TenantActivity,
                 vector_dim: int | None = None) -> None:
        self.collection = collection
        self.index = index
        self.pool = pool
        self.activity = activity
        self.vector_dim = vector_dim

    def tenant(self, cube_id: str) -> Any:
        """The collection bound to a cube's tenant (recording the use of the cube)."""
        return self.in_tenant(tenant_name(cube_id))

    def in_tenant(self, tenant: str) -> Any:
        self.activity.touch(tenant)
        return self.collection.with_tenant(tenant)

    def tenants(self) -> builtins.list[str]:
        """The tenant names of every cube that has held memories, sorted."""
        with storage_errors("listing cube tenants"):
            return sorted(self.collection.tenants.get())

    def cube_ids(self) -> builtins.list[str]:
        """The ids of every cube that holds memories, sorted (read from the memory index, so
        cubes stored under hashed tenant names are included)."""
        with storage_errors("listing cubes"):
            reply = self.index.aggregate.over_all(
                group_by=GroupByAggregate(prop="cube_id", limit=_MAX_CUBES), total_count=True,
            )
        return sorted(str(g.grouped_by.value) for g in reply.groups if g.total_count)

    # ----------------------------------------------------------------------------------------
    # writes

    def insert_many(self, records: Sequence[MemoryRecord]) -> BatchResult:
        """Insert records (any mix of cubes). Rejected objects are reported per input index."""
        result = BatchResult()
        by_tenant: dict[str, builtins.list[int]] = {}
        for i, record in enumerate(records):
            by_tenant.setdefault(tenant_name(record.cube_id), []).append(i)
        stored: set[int] = set()
        for tenant, indexes in by_tenant.items():
            objects = []
            for i in indexes:
                rec = records[i]
                problem = self._check(rec)
                if problem:
                    result.errors[i] = problem
                    continue
                try:
                    props = record_to_properties(rec)
                except Exception as exc:  # noqa: BLE001 - reported per object
                    result.errors[i] = f"invalid record: {exc}"
                    continue
                objects.append((i, DataObject(properties=props, uuid=rec.id, vector=rec.vector)))
            if not objects:
                continue
            coll = self.in_tenant(tenant)
            try:
                with storage_errors(f"insert into cube tenant {tenant}"):
                    reply = coll.data.insert_many([o for _, o in objects])
            except WeaviateUnavailableError:
                raise  # transient (a dead node, a raft leader election): the caller retries (503)
            except StorageError as exc:
                for i, _ in objects:
                    result.errors[i] = str(exc)
                continue
            failed_ids = []
            for pos, (i, _) in enumerate(objects):
                if pos in reply.errors:
                    result.errors[i] = reply.errors[pos].message
                    failed_ids.append(records[i].id)
                else:
                    stored.add(i)
            if failed_ids:  # Weaviate may keep an object whose vector-index write failed: remove it
                try:
                    with storage_errors(f"cleanup of rejected objects in {tenant}"):
                        coll.data.delete_many(where=Filter.by_id().contains_any(failed_ids))
                except StorageError:  # e.g. the shard cannot open at all: the errors are reported below
                    logger.warning("cleanup of %d rejected objects in %s failed", len(failed_ids), tenant,
                                   exc_info=True)
        self._index_write([records[i] for i in sorted(stored)])
        result.ids = [records[i].id for i in sorted(stored)]
        for i, reason in result.errors.items():
            logger.warning("memory #%d (%s) rejected: %s", i, records[i].id, reason)
        return result

    def _index_write(self, records: Sequence[MemoryRecord]) -> None:
        if not records:
            return
        objects = [DataObject(properties={"cube_id": r.cube_id, "user_id": r.user_id}, uuid=r.id) for r in records]
        with storage_errors("memory index write"):
            reply = self.index.data.insert_many(objects)
        for pos, err in reply.errors.items():
            if "already exists" not in err.message:
                logger.error("memory index write failed for %s: %s", objects[pos].uuid, err.message)

    def _check(self, record: MemoryRecord) -> str | None:
        if not record.cube_id:
            return "cube_id is empty"
        if not record.memory.strip():
            return "memory text is empty"
        if record.vector is not None:
            if self.vector_dim is None:
                self.vector_dim = len(record.vector)
            if len(record.vector) != self.vector_dim:
                return f"vector has {len(record.vector)} dimensions, this store uses {self.vector_dim}"
        return None

    def update(self, cube_id: str, memory_id: str, **changes: Any) -> None:
        """Partial update of a memory (status, impression, counters, change log ...).

        The changed properties and the rewritten ``record_json`` go out in one write, after reading
        the current record under a per-memory lock, so concurrent updates within this process never
        undo each other's fields. Across processes the blob is last-writer-wins: two processes
        updating different fields of one memory at the same moment (say recall counters and
        reinforcement) can leave one change only in its own property, not in the blob that reads
        use. ``status`` and ``superseded_by`` are safe from this: reads take them from their own
        properties, which only the updates that change them write.

        Raises:
            InvalidRequestError: a field that cannot be updated, or an invalid value.
            NotFoundError: no such memory in the cube.
        """
        check_updatable(changes)
        changes.setdefault("updated_at", datetime.now(UTC))
        coll = self.tenant(cube_id)
        with _update_lock(memory_id):
            current = self._read(coll, memory_id)
            if current is None:
                raise NotFoundError(f"memory {memory_id} not found in cube {cube_id}")
            try:
                updated = MemoryRecord.model_validate({**current.model_dump(), **changes})
            except ValueError as exc:
                raise InvalidRequestError(f"invalid update of memory {memory_id}: {exc}") from exc
            try:
                with storage_errors(f"update of memory {memory_id}"):
                    coll.data.update(uuid=memory_id, properties=update_properties(changes, updated))
            except NotFoundError as exc:  # deleted meanwhile (or its cube)
                raise NotFoundError(f"memory {memory_id} not found in cube {cube_id}") from exc

    def update_many(self, cube_id: str, changes: Mapping[str, dict[str, Any] | Change]) -> builtins.list[str]:
        """Apply field changes to many memories of one cube in two requests: one read of the
        current records and one batch write of the updated ones. Returns the ids not found.

        A change is either the fields to set or a function of the current record (as just read,
        under the lock) returning them -- for counters such as ``recall_count``, which must grow
        from the stored value, not from an older copy, or concurrent increments are lost.

        Meant for bookkeeping such as recall counters: whole objects are written back with the
        vector they have, which Weaviate recognises (the vector index is not touched). The stripe
        locks of :meth:`update` are held from the read to the write, so updates in this process
        never interleave; ``status`` and ``superseded_by`` are read in the same request, so another
        process's status change is lost only if it lands in those few milliseconds.
        """
        if not changes:
            return []
        for fields in changes.values():
            if not callable(fields):
                check_updatable(fields)
        ids = [str(i) for i in changes]
        coll = self.tenant(cube_id)
        locks = sorted({id(lock): lock for lock in map(_update_lock, ids)}.items())
        in_place: dict[str, dict[str, Any]] = {}
        for _, lock in locks:
            lock.acquire()
        try:
            try:
                with storage_errors(f"read of {len(ids)} memories in cube {cube_id}"):
                    reply = coll.query.fetch_objects(filters=Filter.by_id().contains_any(ids), limit=len(ids),
                                                     include_vector=True, return_properties=READ_PROPERTIES)
                    current = {r.id: r for r in self.records(coll, reply.objects, include_vector=True)}
            except CubeNotFoundError:
                return ids
            now = datetime.now(UTC)
            updated: builtins.list[MemoryRecord] = []
            for memory_id, change in changes.items():
                record = current.get(str(memory_id))
                if record is None:
                    continue
                fields = change(record) if callable(change) else change
                check_updatable(fields)
                if record.vector is None:  # a whole-object write would drop the vector: update in place
                    in_place[record.id] = fields
                    continue
                try:
                    new = MemoryRecord.model_validate({**record.model_dump(), "updated_at": now, **fields})
                except ValueError as exc:
                    raise InvalidRequestError(f"invalid update of memory {memory_id}: {exc}") from exc
                new.vector = record.vector  # not part of model_dump
                updated.append(new)
            if updated:
                objects = [DataObject(properties=record_to_properties(r), uuid=r.id, vector=r.vector)
                           for r in updated]
                with storage_errors(f"update of {len(objects)} memories in cube {cube_id}"):
                    result = coll.data.insert_many(objects)
                if result.errors:
                    first = next(iter(result.errors.values()))
                    raise StorageError(f"update of {len(result.errors)} memories in cube {cube_id} failed: "
                                       f"{first.message}")
        finally:
            for _, lock in reversed(locks):
                lock.release()
        for memory_id, fields in in_place.items():  # after releasing: update() takes the same locks
            self.update(cube_id, memory_id, **fields)
        return [i for i in ids if i not in current]

    def update_vector(self, cube_id: str, memory_id: str, vector: Sequence[float]) -> None:
        """Replace a memory's vector."""
        with storage_errors(f"vector update of memory {memory_id}"):
            self.tenant(cube_id).data.update(uuid=memory_id, vector=builtins.list(vector))

    def update_turn(self, record: MemoryRecord) -> None:
        """Write back a stored raw turn as read and re-linked to its session: its ``sources``
        (sequence number, ids of the adjacent turns) and its vector when it has one, in one write."""
        props = {"sources_json": sources_json(record), RECORD_JSON: record_json(record)}
        with _update_lock(record.id), storage_errors(f"update of turn {record.id}"):
            self.tenant(record.cube_id).data.update(
                uuid=record.id, properties=props, vector=builtins.list(record.vector) if record.vector else None)

    def delete(self, memory_ids: Iterable[str], cube_id: str | None = None) -> int:
        """Delete memories by id, any number (the cube of each is looked up when not given).
        Returns how many were deleted."""
        wanted = builtins.list(dict.fromkeys(str(m) for m in memory_ids if is_uuid(str(m))))
        if not wanted:
            return 0
        by_tenant: dict[str, builtins.list[str]] = {}
        if cube_id is not None:
            by_tenant[tenant_name(cube_id)] = wanted
        else:
            for memory_id, cube in self.cubes_of(wanted).items():
                by_tenant.setdefault(tenant_name(cube), []).append(memory_id)
        deleted = 0
        for tenant, ids in by_tenant.items():
            for chunk in _chunks(ids):
                deleted += self._delete_matching(tenant, Filter.by_id().contains_any(chunk))
        return deleted

    def delete_where(
        self, cube_ids: Sequence[str] | None, filter: dict[str, Any] | None = None, *, user_id: str | None = None,
    ) -> int:
        """Delete every memory (any status) matching the DSL ``filter`` and ``user_id`` in the
        cubes, or in every cube when ``cube_ids`` is ``None``. Returns how many were deleted; there
        is no cap (Weaviate deletes at most ``QUERY_MAXIMUM_RESULTS`` per request, so this repeats
        until nothing matches).

        Raises:
            InvalidRequestError: neither a filter nor a ``user_id`` (that would delete everything).
            FilterError: the filter is not valid DSL.
        """
        where = memory_filter(filter, user_id=user_id)
        if where is None:
            raise InvalidRequestError("refusing to delete without a filter or user_id")
        tenants = self.tenants() if cube_ids is None else [tenant_name(c) for c in dict.fromkeys(cube_ids)]
        return sum(self._delete_matching(tenant, where) for tenant in tenants)

    def _delete_matching(self, tenant: str, where: _Filters) -> int:
        """Delete everything matching in one cube, and the index rows of what went. One request
        deletes at most ``QUERY_MAXIMUM_RESULTS`` objects, so it repeats until nothing matches."""
        coll = self.in_tenant(tenant)
        total = 0
        while True:
            try:
                with storage_errors(f"delete in cube tenant {tenant}"):
                    reply = coll.data.delete_many(where=where, verbose=True)
            except CubeNotFoundError:
                return total
            gone = [str(o.uuid) for o in reply.objects or [] if o.successful]
            if gone:
                self._index_delete(gone)
            total += int(reply.successful)
            if reply.matches == 0:
                return total
            if reply.successful == 0:
                failure = next((o.error for o in reply.objects or [] if not o.successful), None)
                raise StorageError(f"delete in cube tenant {tenant} stopped: {reply.matches} matching "
                                   f"object(s) could not be deleted ({failure})")

    def _index_delete(self, memory_ids: Sequence[str]) -> None:
        for chunk in _chunks(memory_ids):
            with storage_errors("memory index delete"):
                self.index.data.delete_many(where=Filter.by_id().contains_any(chunk))

    # ----------------------------------------------------------------------------------------
    # reads

    def cube_of(self, memory_id: str) -> str | None:
        """The cube a memory is stored in, or ``None``."""
        if not is_uuid(memory_id):
            return None
        with storage_errors(f"index lookup of memory {memory_id}"):
            obj = self.index.query.fetch_object_by_id(memory_id)
        return None if obj is None else str(obj.properties["cube_id"])

    def cubes_of(self, memory_ids: Sequence[str]) -> dict[str, str]:
        """Memory id -> cube id, for the ids the index knows."""
        found: dict[str, str] = {}
        for chunk in _chunks([m for m in memory_ids if is_uuid(m)]):
            with storage_errors(f"index lookup of {len(chunk)} memories"):
                reply = self.index.query.fetch_objects(filters=Filter.by_id().contains_any(chunk), limit=len(chunk),
                                                       return_properties=["cube_id"])
            found.update({str(o.uuid): str(o.properties["cube_id"]) for o in reply.objects})
        return found

    def get(
        self, memory_id: str, cube_ids: Sequence[str] | None = None, *, user_id: str | None = None,
        include_vector: bool = False,
    ) -> MemoryRecord | None:
        """A memory by id, or ``None``. With ``cube_ids``/``user_id`` it must belong to them."""
        cube = self.cube_of(memory_id)
        if cube is None or (cube_ids is not None and cube not in cube_ids):
            return None
        record = self._read(self.tenant(cube), memory_id, include_vector=include_vector)
        if record is None or (user_id is not None and record.user_id != user_id):
            return None
        return record

    def get_many(self, memory_ids: Sequence[str], cube_ids: Sequence[str] | None = None) -> builtins.list[MemoryRecord]:
        """The memories that exist (in ``cube_ids`` when given), in the order asked."""
        cubes = self.cubes_of(builtins.list(dict.fromkeys(str(m) for m in memory_ids)))
        by_cube: dict[str, builtins.list[str]] = {}
        for memory_id, cube in cubes.items():
            if cube_ids is None or cube in cube_ids:
                by_cube.setdefault(cube, []).append(memory_id)
        found: dict[str, MemoryRecord] = {}
        for cube, ids in by_cube.items():
            coll = self.tenant(cube)
            for chunk in _chunks(ids):
                try:
                    with storage_errors(f"read of {len(chunk)} memories in cube {cube}"):
                        reply = coll.query.fetch_objects(filters=Filter.by_id().contains_any(chunk), limit=len(chunk),
                                                         return_properties=READ_PROPERTIES)
                        found.update((r.id, r) for r in self.records(coll, reply.objects, include_vector=False))
                except CubeNotFoundError:
                    break
        return [found[str(m)] for m in memory_ids if str(m) in found]

    def _read(self, coll: Any, memory_id: str, *, include_vector: bool = False) -> MemoryRecord | None:
        """One memory of a cube's collection by id, or ``None``."""
        if not is_uuid(memory_id):
            return None
        try:
            with storage_errors(f"read of memory {memory_id}"):
                obj = coll.query.fetch_object_by_id(memory_id, include_vector=include_vector,
                                                    return_properties=READ_PROPERTIES)
                if obj is not None and not obj.properties.get(RECORD_JSON):  # written before schema 2
                    obj = coll.query.fetch_object_by_id(memory_id, include_vector=include_vector)
        except CubeNotFoundError:
            return None
        if obj is None:
            return None
        return properties_to_record(obj.uuid, obj.properties, obj.vector if include_vector else None)

    def iterate(self, cube_id: str, *, include_vector: bool = True, page: int = 500) -> Iterator[MemoryRecord]:
        """Every memory of a cube, any status, in id order (a cursor: no 10,000-object cap)."""
        coll = self.tenant(cube_id)
        try:
            with storage_errors(f"reading cube {cube_id}"):
                batch: builtins.list[Any] = []
                for obj in coll.iterator(include_vector=include_vector, return_properties=READ_PROPERTIES,
                                         cache_size=page):
                    batch.append(obj)
                    if len(batch) >= page:
                        yield from self.records(coll, batch, include_vector=include_vector)
                        batch = []
                if batch:
                    yield from self.records(coll, batch, include_vector=include_vector)
        except CubeNotFoundError:
            return

    def records(self, coll: Any, objects: Sequence[Any], *, include_vector: bool) -> builtins.list[MemoryRecord]:
        """Records of objects read with ``READ_PROPERTIES``, in order. An object without
        ``record_json`` (written by an older version after the migration) is read again in full."""
        full: dict[str, Any] = {}
        missing = [o.uuid for o in objects if not o.properties.get(RECORD_JSON)]
        if missing:
            with storage_errors(f"read of {len(missing)} memories written before schema 2"):
                reply = coll.query.fetch_objects(filters=Filter.by_id().contains_any(missing), limit=len(missing))
            full = {str(o.uuid): o.properties for o in reply.objects}
        return [
            properties_to_record(o.uuid, full.get(str(o.uuid), o.properties), o.vector if include_vector else None)
            for o in objects
        ]

    def list(
        self,
        cube_id: str,
        *,
        filter: dict[str, Any] | None = None,
        user_id: str | None = None,
        statuses: Sequence[MemoryStatus] | None = (MemoryStatus.ACTIVATED,),
        memory_types: Sequence[MemoryType] | None = None,
        ids: Sequence[str] | None = None,
        is_fast: bool | None = None,
        key: str | None = None,
        offset: int = 0,
        limit: int = 100,
        newest_first: bool | None = True,
        include_vector: bool = False,
    ) -> builtins.list[MemoryRecord]:
        """One page of a cube's memories, newest first by default, oldest first with
        ``newest_first=False``, unsorted (cheaper: a sort costs ~2.5 ms even for a few ids) with
        ``None`` (``offset + limit`` is capped by Weaviate's ``QUERY_MAXIMUM_RESULTS``, 10,000 by default)."""
        if limit < 1 or offset < 0:
            raise InvalidRequestError("limit must be >= 1 and offset >= 0")
        if ids is not None and not ids:
            return []
        flt = memory_filter(filter, user_id=user_id, statuses=statuses, memory_types=memory_types, ids=ids,
                            is_fast=is_fast, key=key)
        coll = self.tenant(cube_id)
        try:
            with storage_errors(f"listing cube {cube_id}"):
                reply = coll.query.fetch_objects(
                    filters=flt, offset=offset, limit=min(limit, MAX_PAGE),
                    sort=None if newest_first is None else Sort.by_property("created_at", ascending=not newest_first),
                    return_properties=READ_PROPERTIES, include_vector=include_vector,
                )
                return self.records(coll, reply.objects, include_vector=include_vector)
        except CubeNotFoundError:
            return []

    def latest_turn(self, cube_id: str, session_id: str, *, user_id: str | None = None,
                    before: datetime | None = None, after: datetime | None = None) -> MemoryRecord | None:
        """The most recently stored fast-mode raw turn of a session (any status), with its vector,
        or ``None``: one small sorted query (fast memorize links a new turn to it). ``before``:
        the latest turn created before that time; ``after``: the earliest turn created after it
        (turns of a session are created in the order they were said, see ``link_to_session``)."""
        parts = [Filter.by_property("session_id").equal(session_id), Filter.by_property("is_fast").equal(True)]
        if user_id is not None:
            parts.append(Filter.by_property("user_id").equal(user_id))
        if before is not None:
            parts.append(Filter.by_property("created_at").less_than(before))
        if after is not None:
            parts.append(Filter.by_property("created_at").greater_than(after))
        coll = self.tenant(cube_id)
        try:
            with storage_errors(f"reading the latest turn of session {session_id} in cube {cube_id}"):
                reply = coll.query.fetch_objects(
                    filters=Filter.all_of(parts), limit=1, include_vector=True,
                    sort=Sort.by_property("created_at", ascending=after is not None),
                    return_properties=READ_PROPERTIES,
                )
                found = self.records(coll, reply.objects, include_vector=True)
        except CubeNotFoundError:
            return None
        return found[0] if found else None

    def count(
        self,
        cube_id: str,
        *,
        filter: dict[str, Any] | None = None,
        user_id: str | None = None,
        statuses: Sequence[MemoryStatus] | None = (MemoryStatus.ACTIVATED,),
        memory_types: Sequence[MemoryType] | None = None,
        ids: Sequence[str] | None = None,
        is_fast: bool | None = None,
        key: str | None = None,
    ) -> int:
        """How many of a cube's memories match (same restrictions as :meth:`list`)."""
        if ids is not None and not ids:
            return 0
        flt = memory_filter(filter, user_id=user_id, statuses=statuses, memory_types=memory_types, ids=ids,
                            is_fast=is_fast, key=key)
        try:
            with storage_errors(f"counting cube {cube_id}"):
                reply = self.tenant(cube_id).aggregate.over_all(total_count=True, filters=flt)
        except CubeNotFoundError:
            return 0
        return int(reply.total_count or 0)
