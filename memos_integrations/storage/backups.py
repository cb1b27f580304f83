"""Backups with Weaviate's own backup module: every collection of one store (``<prefix>*``) to a
backend (``filesystem`` on the embedded server; ``s3`` / ``gcs`` / ``azure`` on a cluster that has
the module enabled) and back.

A restore needs the store's collections to be absent (an empty data directory, or a cluster
without them): Weaviate refuses to overwrite existing collections. It also needs nodes of the same
names as the backed-up ones: the embedded node is named after its HTTP port
(``MEMOS_EMBEDDED_HTTP_PORT``, 8079 by default), so restore with the same port.
"""

from __future__ import annotations

from typing import Any

from weaviate.backup.backup import BackupStorage

from memos_integrations.errors import InvalidRequestError, StorageError
from memos_integrations.storage.errors import storage_errors

__all__ = ["Backups"]

BACKENDS = {"filesystem": BackupStorage.FILESYSTEM, "s3": BackupStorage.S3, "gcs": BackupStorage.GCS,
            "azure": BackupStorage.AZURE}


def _backend(name: str) -> BackupStorage:
    try:
        return BACKENDS[name]
    except KeyError:
        raise InvalidRequestError(f"unknown backup backend {name!r}; use one of {', '.join(BACKENDS)}") from None


def _status(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


class Backups:
    """Create, restore and list backups of the collections named ``<prefix>...``.

    Args:
        client: a connected ``WeaviateClient``.
        prefix: the store's collection prefix.
    """

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def collections(self) -> list[str]:
        with storage_errors("listing collections"):
            names = self.client.collections.list_all(simple=True)
        return sorted(n for n in names if n.startswith(self.prefix))

    def create(self, backup_id: str, backend: str = "filesystem") -> dict[str, Any]:
        """Back up every collection of the store; returns ``{id, status, collections, path}``.

        Raises:
            InvalidRequestError: an unknown backend, or the store has no collections yet.
            StorageError: Weaviate refused or failed the backup (e.g. the module is not enabled).
        """
        names = self.collections()
        if not names:
            raise InvalidRequestError(f"no collections named {self.prefix}* to back up")
        with storage_errors(f"backup {backup_id}"):
            result = self.client.backup.create(backup_id=backup_id, backend=_backend(backend),
                                               include_collections=names, wait_for_completion=True)
        if _status(result.status).upper() != "SUCCESS":
            raise StorageError(f"backup {backup_id} ended {_status(result.status)}: {result.error or ''}".strip())
        return {"id": backup_id, "status": _status(result.status), "collections": names,
                "path": getattr(result, "path", "") or ""}

    def restore(self, backup_id: str, backend: str = "filesystem") -> dict[str, Any]:
        """Restore the store's collections from a backup (they must not exist yet).

        Raises:
            InvalidRequestError: an unknown backend, or the store already has collections.
            StorageError: Weaviate refused or failed the restore (unknown backup id ...).
        """
        present = self.collections()
        if present:
            raise InvalidRequestError(
                f"restore needs an empty store, but {', '.join(present)} exist; restore into an empty data "
                "directory (MEMOS_DATA_DIR) or delete them first")
        with storage_errors(f"restore of backup {backup_id}"):
            result = self.client.backup.restore(backup_id=backup_id, backend=_backend(backend),
                                                wait_for_completion=True)
        if _status(result.status).upper() != "SUCCESS":
            raise StorageError(f"restore of {backup_id} ended {_status(result.status)}: {result.error or ''}".strip())
        return {"id": backup_id, "status": _status(result.status), "collections": list(result.collections or [])}

    def list(self, backend: str = "filesystem") -> list[dict[str, Any]]:
        """The backups the backend holds (id, status, collections)."""
        with storage_errors("listing backups"):
            found = self.client.backup.list_backups(backend=_backend(backend))
        return [{"id": b.backup_id, "status": _status(b.status), "collections": list(b.collections or [])}
                for b in found]
