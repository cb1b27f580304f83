"""How API-level names map to cubes (Weaviate tenants).

* MemOS: a cube id is used as is; a user's own cube has the user's id.
* MemnetAI: a memory agent plays the user; its ``namespace`` selects a cube of its own
  (``default`` -> the agent's cube, else ``<agent>__<namespace>``).
* Common-sense databases (MemnetAI) and knowledge bases (MemOS cloud) live in the cube
  ``commonsense__<id>``; a database belongs to the account of the key that first wrote it (the
  ``common_sense`` resource). The memory agent's own database is the cube
  ``<agent>__common_sense`` (recall reads it with ``isUsingMemoryAgentCommonSenseDatabase``), the
  global one is the cube named by ``MEMOS_GLOBAL_COMMON_SENSE_CUBE``.

Example::

    >>> agent_cube("bob", "default"), agent_cube("bob", "work"), common_sense_cube("kb1")
    ('bob', 'bob__work', 'commonsense__kb1')
    >>> agent_common_sense_cube("bob")
    'bob__common_sense'
"""

from __future__ import annotations

from memos_integrations.pipeline.recall import AGENT_COMMON_SENSE_SUFFIX

NAMESPACE_SEP = "__"
COMMON_SENSE_PREFIX = "commonsense__"


def agent_cube(agent: str, namespace: str | None = "default") -> str:
    if not namespace or namespace == "default":
        return agent
    return f"{agent}{NAMESPACE_SEP}{namespace}"


def common_sense_cube(database_id: str) -> str:
    return f"{COMMON_SENSE_PREFIX}{database_id}"


def common_sense_cubes(database_ids: list[str] | None) -> list[str] | None:
    """The cubes of the common-sense databases a recall names (``commonSenseDatabaseIdList``)."""
    return None if database_ids is None else [common_sense_cube(i) for i in database_ids]


def agent_common_sense_cube(agent: str) -> str:
    """The memory agent's own common-sense database."""
    return f"{agent}{AGENT_COMMON_SENSE_SUFFIX}"


def owner_of(cube_id: str) -> str:
    """The user that owns a cube by construction (its own cube or one of its namespaces);
    common-sense cubes have no owner (``""``)."""
    if cube_id.startswith(COMMON_SENSE_PREFIX):
        return ""
    return cube_id.split(NAMESPACE_SEP, 1)[0]
