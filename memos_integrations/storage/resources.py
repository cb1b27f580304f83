"""Ownership of what accounts create (``<prefix>Resource``, not multi-tenant): knowledge bases,
cubes, common-sense databases, profile templates. One object per ``(kind, resource_id)`` with a
deterministic id, so a claim is one insert and two accounts can never both own one resource.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from typing import Any

from weaviate.classes.query import Filter, Sort

from memos_integrations.domain.models import ResourceRecord
from memos_integrations.errors import PermissionDeniedError, StorageConflictError
from memos_integrations.storage.errors import storage_errors
from memos_integrations.storage.filters import all_of

__all__ = ["Resources", "resource_uuid"]

_NAMESPACE = uuidlib.UUID("0b5f3c8e-3f0e-4a5e-9d7a-6a1f2f5c9e21")


def resource_uuid(kind: str, resource_id: str) -> str:
    """The object id of a resource (the same for every process)."""
    return str(uuidlib.uuid5(_NAMESPACE, json.dumps([kind, resource_id], ensure_ascii=False)))


def _record(props: dict[str, Any]) -> ResourceRecord:
    return ResourceRecord(kind=props["kind"], resource_id=props["resource_id"], account=props["account"],
                          name=props.get("name") or "", meta=json.loads(props.get("meta_json") or "{}"),
                          created_at=props["created_at"])


class Resources:
    """Claims, look-ups and releases of owned resources.

    Args:
        collection: the ``<prefix>Resource`` collection.
    """

    def __init__(self, collection: Any) -> None:
        self.collection = collection

    def claim(self, record: ResourceRecord) -> ResourceRecord:
        """Record ``record.account`` as the owner; returns the stored record.

        Claiming again with the same account returns the existing record unchanged (idempotent).

        Raises:
            PermissionDeniedError: another account owns this resource.
        """
        uid = resource_uuid(record.kind, record.resource_id)
        props = {"kind": record.kind, "resource_id": record.resource_id, "account": record.account,
                 "name": record.name, "meta_json": json.dumps(record.meta, ensure_ascii=False, default=str),
                 "created_at": record.created_at}
        try:
            with storage_errors(f"claim of {record.kind} {record.resource_id}"):
                self.collection.data.insert(properties=props, uuid=uid)
            return record
        except StorageConflictError:
            existing = self.get(record.kind, record.resource_id)
            if existing is None:  # released in between: try once more
                with storage_errors(f"claim of {record.kind} {record.resource_id}"):
                    self.collection.data.insert(properties=props, uuid=uid)
                return record
            if existing.account != record.account:
                raise PermissionDeniedError(
                    f"{record.kind} '{record.resource_id}' belongs to another account") from None
            return existing

    def get(self, kind: str, resource_id: str) -> ResourceRecord | None:
        with storage_errors(f"read of {kind} {resource_id}"):
            obj = self.collection.query.fetch_object_by_id(resource_uuid(kind, resource_id))
        return None if obj is None else _record(obj.properties)

    def find(self, kind: str, account: str | None = None, limit: int = 10_000) -> list[ResourceRecord]:
        """Resources of one kind (of one account when given), oldest first."""
        parts = [Filter.by_property("kind").equal(kind)]
        if account is not None:
            parts.append(Filter.by_property("account").equal(account))
        with storage_errors(f"listing {kind} resources"):
            reply = self.collection.query.fetch_objects(
                filters=all_of(parts), limit=limit, sort=Sort.by_property("created_at", ascending=True))
        return [_record(o.properties) for o in reply.objects]

    def update_meta(self, kind: str, resource_id: str, meta: dict[str, Any], name: str | None = None) -> ResourceRecord:
        """Replace a resource's ``meta`` (and ``name`` when given); the owner never changes.

        Raises:
            NotFoundError: nobody owns this resource.
        """
        from memos_integrations.errors import NotFoundError

        props: dict[str, Any] = {"meta_json": json.dumps(meta, ensure_ascii=False, default=str)}
        if name is not None:
            props["name"] = name
        with storage_errors(f"update of {kind} {resource_id}"):
            if self.collection.query.fetch_object_by_id(resource_uuid(kind, resource_id)) is None:
                raise NotFoundError(f"{kind} '{resource_id}' not found")
            self.collection.data.update(uuid=resource_uuid(kind, resource_id), properties=props)
        record = self.get(kind, resource_id)
        if record is None:
            raise NotFoundError(f"{kind} '{resource_id}' not found")
        return record

    def release(self, kind: str, resource_id: str) -> bool:
        """Forget the owner of a resource; True when there was one."""
        with storage_errors(f"release of {kind} {resource_id}"):
            return bool(self.collection.data.delete_by_id(resource_uuid(kind, resource_id)))
