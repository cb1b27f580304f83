"""Fine memorize (LLM extraction + reconciliation). Placeholder until the fine pipeline lands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memos_integrations.core.memorize import memorize_fast
from memos_integrations.core.requests import MemorizeRequest, MemorizeResult

if TYPE_CHECKING:
    from memos_integrations.core.engine import MemoryEngine


def memorize_fine(engine: MemoryEngine, request: MemorizeRequest, *, task_id: str = "") -> MemorizeResult:
    result = memorize_fast(engine, request, task_id=task_id)
    result.warnings.append("fine extraction is not available yet; stored fast raw memories")
    return result
