"""Keep the number of loaded cubes bounded: least recently used cubes are set INACTIVE.

Every cube is a tenant, and every active tenant holds its shard's files open in Weaviate (about 35
per cube with this schema). A single Weaviate process runs out of file descriptors long before it
runs out of memory: with the common limit of 20,000 open files, about 480 active cubes fit.

The store records each cube it touches here. When more than ``max_active`` cubes have been touched,
a background thread sets the least recently used ones INACTIVE, which closes their files. The
collections are created with ``auto_tenant_activation``, so the next read or write of an inactive
cube activates it again (a one-off cost of a few milliseconds for a small cube); nothing is lost
and no caller has to know.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from itertools import islice
from typing import Any

from weaviate.classes.tenants import Tenant, TenantActivityStatus
from weaviate.exceptions import WeaviateBaseError

from memos_integrations.storage.schema import tenant_name

__all__ = ["CubeCollection", "TenantActivity"]

log = logging.getLogger(__name__)


class TenantActivity:
    """LRU of the cubes this process has used; offloads the oldest beyond ``max_active``.

    Args:
        collections: returns the multi-tenant collections a cube has a tenant in.
        max_active: cubes kept active (0 disables offloading).
        batch: cubes deactivated per sweep once the bound is exceeded by that many.
    """

    def __init__(self, collections: Callable[[], Sequence[Any]], max_active: int, batch: int = 20) -> None:
        if max_active < 0:
            raise ValueError("max_active must be >= 0 (0 = never deactivate)")
        self._collections = collections
        self.max_active = max_active
        self.batch = max(1, batch)
        self._lru: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._sweeping = False
        self.deactivated = 0  # total, for tests and benchmarks

    def touch(self, tenant: str) -> None:
        """Record a use of ``tenant``; cheap (called on every store operation)."""
        if not self.max_active:
            return
        with self._lock:
            self._lru[tenant] = None
            self._lru.move_to_end(tenant)
            if len(self._lru) < self.max_active + self.batch or self._sweeping:
                return
            self._sweeping = True
        threading.Thread(target=self._sweep, name="memos-tenant-offload", daemon=True).start()

    def forget(self, tenant: str) -> None:
        with self._lock:
            self._lru.pop(tenant, None)

    def sweep(self) -> int:
        """Deactivate the least recently used cubes beyond the bound now; returns how many."""
        with self._lock:
            if self._sweeping:
                return 0
            self._sweeping = True
        return self._sweep()

    def _sweep(self) -> int:
        done = 0
        try:
            while True:
                with self._lock:
                    excess = len(self._lru) - self.max_active
                    if excess <= 0:
                        return done
                    victims = list(islice(self._lru, excess))
                    for t in victims:
                        del self._lru[t]
                self._deactivate(victims)
                done += len(victims)
                self.deactivated += len(victims)
        finally:
            with self._lock:
                self._sweeping = False

    def _deactivate(self, tenants: list[str]) -> None:
        for coll in self._collections():
            try:
                present = coll.tenants.get_by_names(tenants)
                updates = [Tenant(name=name, activity_status=TenantActivityStatus.INACTIVE)
                           for name, t in present.items() if t.activity_status == TenantActivityStatus.ACTIVE]
                if updates:
                    coll.tenants.update(updates)
            except WeaviateBaseError:
                # One cube still in use (a query running right now) fails the whole request: go one
                # by one and leave the busy ones active. Offloading is an optimisation; never raise.
                for tenant in tenants:
                    try:
                        coll.tenants.update(Tenant(name=tenant, activity_status=TenantActivityStatus.INACTIVE))
                    except WeaviateBaseError as exc:
                        log.debug("cube %s of %s stays active: %s", tenant, coll.name, exc)


class CubeCollection:
    """A multi-tenant collection whose tenants are cubes: :meth:`tenant` binds a cube's tenant
    and records its use (so idle cubes can be set INACTIVE).

    Args:
        collection: the collection (not bound to a tenant).
        activity: records each cube used.
    """

    def __init__(self, collection: Any, activity: TenantActivity) -> None:
        self.collection = collection
        self.activity = activity

    def tenant(self, cube_id: str) -> Any:
        tenant = tenant_name(cube_id)
        self.activity.touch(tenant)
        return self.collection.with_tenant(tenant)
