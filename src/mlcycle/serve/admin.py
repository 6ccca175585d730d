"""The canary admin API, behind a bearer token (MLCYCLE_ADMIN_TOKEN; without it: off, 404).

POST /admin/canary {"package": PATH, "force": false}   start a canary
POST /admin/canary/promote                              make it the stable model now
POST /admin/canary/rollback                             drop it now
POST /admin/canary/weight {"weight": N}                 pin its share of traffic
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from mlcycle.serve.app import ModelServer


class CanaryStart(BaseModel):
    package: str = Field(description="folder of the package to roll out")
    force: bool = Field(False, description="roll out even if its gate failed or labels differ")


class CanaryWeight(BaseModel):
    weight: int = Field(ge=0, le=100, description="share of request keys, 0-100")


def admin_router(server: ModelServer, token: str) -> APIRouter:
    """The admin routes. Their errors become responses in the app's exception handlers:
    409 for what the rollout's state does not allow now (or a candidate that may not
    ship), 403 outside serve.package_roots, 422 for a package that does not load."""

    def authorised(request: Request) -> None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise HTTPException(
                401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"}
            )

    router = APIRouter(prefix="/admin/canary", dependencies=[Depends(authorised)])
    pair = server.pair

    @router.post("")
    async def start(body: CanaryStart) -> dict[str, Any]:
        await pair.start_canary(body.package, body.force)
        return pair.describe()

    @router.post("/promote")
    async def promote() -> dict[str, Any]:
        await pair.command(lambda controller: controller.promote())
        return pair.describe()

    @router.post("/rollback")
    async def rollback() -> dict[str, Any]:
        await pair.command(lambda controller: controller.rollback())
        return pair.describe()

    @router.post("/weight")
    async def weight(body: CanaryWeight) -> dict[str, Any]:
        await pair.command(lambda controller: controller.set_weight(body.weight))
        return pair.describe()

    return router
