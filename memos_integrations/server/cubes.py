"""How API-level names map to cubes (Weaviate tenants).

* MemOS: a cube id is used as is; a user's own cube has the user's id.
* MemnetAI: a memory agent plays the user; its ``namespace`` selects a cube of its own
  (``default`` -> the agent's cube, else ``<agent>__<namespace>``).
* Common-sense databases (MemnetAI) and knowledge bases (MemOS cloud) live in the cube
  ``commonsense__<id>``.

Example::

    >>> agent_cube("bob", "default"), agent_cube("bob", "work"), common_sense_cube("kb1")
    ('bob', 'bob__work', 'commonsense__kb1')
"""

from __future__ import annotations

NAMESPACE_SEP = "__"
COMMON_SENSE_PREFIX = "commonsense__"


def agent_cube(agent: str, namespace: str | None = "default") -> str:
    if not namespace or namespace == "default":
        return agent
    return f"{agent}{NAMESPACE_SEP}{namespace}"


def common_sense_cube(database_id: str) -> str:
    return f"{COMMON_SENSE_PREFIX}{database_id}"


def owner_of(cube_id: str) -> str:
    """The user that owns a cube by construction (its own cube or one of its namespaces);
    common-sense cubes have no owner (``""``)."""
    if cube_id.startswith(COMMON_SENSE_PREFIX):
        return ""
    return cube_id.split(NAMESPACE_SEP, 1)[0]
