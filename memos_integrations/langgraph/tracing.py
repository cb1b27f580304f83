"""Metadata on the LangChain/LangSmith runs of the memory steps.

LangGraph names each node's run after the node (``recall``, ``inject``, ``generate``,
``memorize``); :func:`annotate_run` adds what the step did (the cubes it read or wrote, how many
memories it recalled or stored, the task id ...) to that run's metadata once the step knows it.
Any tracer built on :class:`~langchain_core.tracers.base.BaseTracer` sees it: LangSmith's
``LangChainTracer`` (``LANGSMITH_TRACING=true``) sends it with the run's end, and a
``RunCollectorCallbackHandler`` or a custom tracer passed in ``config["callbacks"]`` finds it in
``run.metadata``.

Example::

    from langchain_core.tracers.run_collector import RunCollectorCallbackHandler
    collector = RunCollectorCallbackHandler()
    graph.invoke({"messages": [("user", "hi")]}, {"callbacks": [collector], "configurable": {...}})
    # collector.traced_runs[0].child_runs -> recall / inject / generate / memorize, each with
    # metadata such as {"memos.cube_ids": ["alice"], "memos.recalled": 3}
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import BaseCallbackManager
from langchain_core.runnables import RunnableConfig
from langchain_core.tracers.base import BaseTracer

PREFIX = "memos."


def annotate_run(config: RunnableConfig | None, **metadata: Any) -> None:
    """Add ``metadata`` (keys prefixed ``memos.``) to the run of the step being executed.

    The step function receives the child config of its own run: that run, and the LangGraph node
    run around it when it carries the same name, get the keys. No tracer, no cost.
    """
    callbacks = (config or {}).get("callbacks")
    if not isinstance(callbacks, BaseCallbackManager) or callbacks.parent_run_id is None:
        return
    values = {f"{PREFIX}{key}": value for key, value in metadata.items() if value is not None}
    for handler in callbacks.handlers:
        if not isinstance(handler, BaseTracer):
            continue
        run = handler.run_map.get(str(callbacks.parent_run_id))
        if run is None:
            continue
        _merge(run, values)
        parent = handler.run_map.get(str(run.parent_run_id)) if run.parent_run_id else None
        if parent is not None and parent.name == run.name:
            _merge(parent, values)


def _merge(run: Any, values: dict[str, Any]) -> None:
    extra = run.extra if run.extra is not None else {}
    extra.setdefault("metadata", {}).update(values)
    run.extra = extra


__all__ = ["annotate_run"]
