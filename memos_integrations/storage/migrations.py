"""Schema versions and the ordered migrations between them, applied by ``MemoryStore.setup()``.

The version lives in one ``<prefix>Meta`` object. :data:`MIGRATIONS` lists every step in order;
``setup()`` runs the steps above the stored version and records each new version when its step
is done, so an interrupted run resumes at the next ``setup()``.

Several processes (server workers) may call ``setup()`` at once: one migrates while the others
wait. The first to insert the lease object (a second Meta object, whose ``zh_tokenization``
carries a heartbeat) does the work; a lease whose heartbeat stops for ``stale_after`` seconds is
taken over. Every step is idempotent.

Steps:

1 -> 2  ``record_json``: add the property to the Memory collection and write it for every memory
        of every cube that lacks it (a partial update: no other property, not the vector).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid as uuidlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential
from tqdm import tqdm
from weaviate.classes.tenants import Tenant, TenantActivityStatus

from memos_integrations.errors import (
    ConfigurationError,
    MemosError,
    NotFoundError,
    StorageConflictError,
    StorageError,
)
from memos_integrations.storage.codec import properties_to_record, record_json
from memos_integrations.storage.errors import storage_errors
from memos_integrations.storage.schema import RECORD_JSON, SCHEMA_VERSION, record_json_property

__all__ = ["MIGRATIONS", "Migration", "Migrator"]

logger = logging.getLogger(__name__)

_BATCH = 500


@dataclass(frozen=True)
class Migration:
    """One step: brings a store from ``to_version - 1`` to ``to_version``."""

    to_version: int
    description: str
    #: True when the store still lacks this step's schema change (read from the live schema).
    pending: Callable[[Migrator], bool]
    #: Does the work (idempotently); calls ``beat()`` often. Returns how many objects it wrote.
    apply: Callable[[Migrator, Callable[[], None]], int]


# --------------------------------------------------------------------------------------------
# the steps


def _record_json_missing(m: Migrator) -> bool:
    with storage_errors("reading the Memory collection's schema"):
        return not any(p.name == RECORD_JSON for p in m.memories.config.get().properties)


def _add_record_json(m: Migrator, beat: Callable[[], None]) -> int:
    """Add ``record_json`` when missing, then write it for every memory lacking it."""
    if _record_json_missing(m):
        try:
            with storage_errors(f"adding the {RECORD_JSON} property"):
                m.memories.config.add_property(record_json_property())
        except MemosError:
            if _record_json_missing(m):  # not another process adding it first
                raise
    written = 0
    with storage_errors("listing cubes"):
        tenants = m.memories.tenants.get()
    progress = _Progress(f"migration to {RECORD_JSON}", len(tenants))
    for tenant, info in progress.over(tenants.items()):
        coll = m.memories.with_tenant(tenant)
        pending: list[tuple[Any, str]] = []
        with storage_errors(f"reading cube tenant {tenant}"):
            for obj in coll.iterator(cache_size=_BATCH):
                beat()
                progress.tick(written)
                if obj.properties.get(RECORD_JSON):
                    continue
                pending.append((obj.uuid, record_json(properties_to_record(obj.uuid, obj.properties))))
                if len(pending) >= _BATCH:
                    written += m.write_blobs(coll, pending)
                    pending = []
        if pending:
            written += m.write_blobs(coll, pending)
        if info.activity_status is not TenantActivityStatus.ACTIVE:
            _deactivate(m, tenant)
    return written


def _deactivate(m: Migrator, tenant: str) -> None:
    """Leave a cube inactive as it was: reading it activated it (active cubes hold files open).
    Right after the cube's writes Weaviate may refuse the change for a moment (HTTP 422, seen with
    several processes setting up at once), so it is retried; if it still fails, the cube stays
    active (open files, no data at risk) and a warning says so."""
    try:
        for attempt in Retrying(stop=stop_after_attempt(6), wait=wait_exponential(multiplier=0.1, max=2.0),
                                retry=retry_if_exception_type(MemosError), reraise=True):
            with attempt, storage_errors(f"deactivating cube tenant {tenant}"):
                m.memories.tenants.update(Tenant(name=tenant, activity_status=TenantActivityStatus.INACTIVE))
    except MemosError as exc:
        logger.warning("cube tenant %s stays active after the migration: %s", tenant, exc)


class _Progress:
    """Progress of a long migration: a tqdm bar over the cubes on a terminal, and a log line
    (elapsed time, cubes done, objects written) every ``every`` seconds for server logs."""

    def __init__(self, what: str, total: int, every: float = 10.0) -> None:
        self.what, self.total, self.every = what, total, every
        self.started = self.last = time.monotonic()
        self.done = 0

    def over(self, items: Iterable[Any]) -> Iterator[Any]:
        bar = tqdm(items, total=self.total, desc=self.what, unit="cube", disable=None, leave=False)
        for item in bar:
            yield item
            self.done += 1

    def tick(self, written: int) -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            logger.info("%s: %.0fs, %d of %d cubes done, %d objects written",
                        self.what, now - self.started, self.done, self.total, written)


#: Every step, in order. The last one's ``to_version`` is ``SCHEMA_VERSION``.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "record_json: the whole record as one JSON text", _record_json_missing, _add_record_json),
)
assert MIGRATIONS[-1].to_version == SCHEMA_VERSION


def _lease_beat() -> str:
    return f"migrating {uuidlib.uuid4().hex}"


class Migrator:
    """Reads and records the schema version and runs :data:`MIGRATIONS` under the lease.

    Args:
        prefix: the collection prefix (the Meta object ids derive from it).
        meta: the ``<prefix>Meta`` collection.
        memories: the ``<prefix>Memory`` collection (multi-tenant, not bound to a tenant).
        pool: runs the partial updates in parallel.
        stale_after: seconds without a heartbeat after which a lease is taken over.
    """

    def __init__(self, prefix: str, meta: Any, memories: Any, pool: ThreadPoolExecutor,
                 stale_after: float = 30.0, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.prefix = prefix
        self.meta = meta
        self.memories = memories
        self.pool = pool
        self.stale_after = stale_after
        self.migrations = tuple(migrations)

    def meta_id(self, what: str = "schema") -> uuidlib.UUID:
        """The id of a Meta object: ``"schema"`` (the version) or ``"migration"`` (the lease)."""
        return uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"memos-integrations/{self.prefix}/{what}")

    def schema_version(self) -> int | None:
        """The recorded schema version (``None`` before the first ``setup()``)."""
        with storage_errors("reading the schema version"):
            obj = self.meta.query.fetch_object_by_id(self.meta_id())
        return None if obj is None else int(obj.properties["schema_version"])

    def ensure(self, zh_tokenization: str) -> None:
        """Record the version of a new store, or migrate an older one to :data:`SCHEMA_VERSION`.

        Raises:
            ConfigurationError: the store has a newer version than this package knows.
        """
        version = self.schema_version()
        if version is None:
            # A Memory collection may predate the version record (a run stopped in between).
            for step in self.migrations:
                if step.pending(self):
                    step.apply(self, lambda: None)
            try:
                with storage_errors("recording the schema version"):
                    self.meta.data.insert({"schema_version": SCHEMA_VERSION, "zh_tokenization": zh_tokenization},
                                          uuid=self.meta_id())
                return
            except StorageConflictError:  # another process (server worker) recorded it first
                version = self.schema_version()
                if version is None:
                    return
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION or not any(m.to_version == version + 1 for m in self.migrations):
            raise ConfigurationError(
                f"the Weaviate schema is version {version}, this package "
                f"expects {SCHEMA_VERSION}; use a new collection prefix or migrate the data"
            )
        self._migrate()

    # ----------------------------------------------------------------------------------------
    # the lease

    def _migrate(self) -> None:
        lease_id = self.meta_id("migration")
        while True:
            try:
                with storage_errors("taking the migration lease"):
                    self.meta.data.insert({"schema_version": SCHEMA_VERSION, "zh_tokenization": _lease_beat()},
                                          uuid=lease_id)
                break
            except StorageConflictError:
                pass
            outcome = self._await(lease_id)
            if outcome == "done":
                return
            if outcome == "stale":
                logger.warning("the schema migration of another process stopped; taking it over")
                break
            # "released": the holder gave up without finishing; try to take the lease
        started = time.monotonic()
        beat = self._heartbeat(lease_id)
        written = 0
        try:
            beat(force=True)
            for step in self.migrations:
                version = self.schema_version() or 0
                if step.to_version <= version:
                    continue
                written += step.apply(self, beat)
                with storage_errors("recording the schema version"):
                    self.meta.data.update(uuid=self.meta_id(), properties={"schema_version": step.to_version})
                logger.info("schema migrated to version %d (%s)", step.to_version, step.description)
        finally:
            with contextlib.suppress(MemosError), storage_errors("releasing the migration lease"):
                self.meta.data.delete_by_id(lease_id)
        logger.info("schema migration done: %d objects written in %.1fs", written, time.monotonic() - started)

    def _await(self, lease_id: uuidlib.UUID) -> Literal["done", "released", "stale"]:
        """Wait while another process holds the migration lease."""
        last_beat: Any = None
        since = time.monotonic()
        while True:
            if self.schema_version() == SCHEMA_VERSION:
                return "done"
            with storage_errors("reading the migration lease"):
                lease = self.meta.query.fetch_object_by_id(lease_id)
            if lease is None:
                return "done" if self.schema_version() == SCHEMA_VERSION else "released"
            beat = lease.properties.get("zh_tokenization")
            if beat != last_beat:
                last_beat, since = beat, time.monotonic()
            elif time.monotonic() - since > self.stale_after:
                return "stale"
            time.sleep(0.5)

    def _heartbeat(self, lease_id: uuidlib.UUID, every: float = 2.0) -> Callable[..., None]:
        last = [0.0]

        def beat(force: bool = False) -> None:
            now = time.monotonic()
            if force or now - last[0] >= every:
                last[0] = now
                try:
                    with storage_errors("migration heartbeat"):
                        self.meta.data.update(uuid=lease_id, properties={"zh_tokenization": _lease_beat()})
                except StorageError:  # a lease taken over and released meanwhile: keep going
                    logger.debug("migration heartbeat failed", exc_info=True)

        return beat

    # ----------------------------------------------------------------------------------------
    # helpers for the steps

    def write_blobs(self, coll: Any, blobs: Sequence[tuple[Any, str]]) -> int:
        """Write ``record_json`` of several objects of one cube (partial updates, in parallel).

        The client has no batch *update*, and a batch insert would replace whole objects (racing
        with concurrent writers of other properties). Objects deleted meanwhile are skipped.
        """

        def write(item: tuple[Any, str]) -> int:
            uid, blob = item
            try:
                with storage_errors(f"writing {RECORD_JSON} of {uid}"):
                    coll.data.update(uuid=uid, properties={RECORD_JSON: blob})
            except NotFoundError:
                return 0
            return 1

        return sum(self.pool.map(write, blobs))
