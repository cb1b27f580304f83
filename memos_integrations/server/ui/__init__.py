"""The memory inspector at ``/ui``: users -> cubes -> memories, a memory's history, recall
explained, the relation graph and tasks, in the browser (static files, no build step).

``create_app`` includes :data:`router`; see :mod:`.router` for the routes and :mod:`.access`
for who may see what.
"""

from fastapi import APIRouter

from memos_integrations.server.ui.router import api_router, page_router

router = APIRouter()
router.include_router(page_router)
router.include_router(api_router)

__all__ = ["router"]
