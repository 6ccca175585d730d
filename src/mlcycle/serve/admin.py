"""The canary admin API, behind a bearer token (MLCYCLE_ADMIN_TOKEN; without it: off, 404).

POST /admin/canary {"package": PATH, "force": false}   start a canary
POST /admin/canary/promote                              make it the stable model now
POST /admin/canary/rollback                             drop it now
POST /admin/canary/weight {"weight": N}                 pin its share of traffic
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from mlcycle.models.package import PackageError

if TYPE_CHECKING:
    from mlcycle.serve.app import ModelServer


class CanaryStart(BaseModel):
    package: str = Field(description="folder of the package to roll out")
    force: bool = Field(False, description="roll out even if its gate failed or labels differ")


class CanaryWeight(BaseModel):
    weight: int = Field(ge=0, le=100, description="share of request keys, 0-100")


def admin_router(server: ModelServer, token: str) -> APIRouter:
    def authorised(request: Request) -> None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise HTTPException(
                401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"}
            )

    router = APIRouter(prefix="/admin/canary", dependencies=[Depends(authorised)])

    async def act(command: Callable[[], None]) -> dict[str, Any]:
        """Run a controller command; 409 naming why it cannot be done now."""
        try:
            command()
        except RuntimeError as e:
            raise HTTPException(409, str(e)) from None
        await server.apply_rollout()
        return server.describe()

    @router.post("")
    async def start(body: CanaryStart) -> dict[str, Any]:
        from mlcycle.serve.app import PackageOutsideRoots

        try:
            await server.start_canary(body.package, body.force)
        except PackageOutsideRoots as e:
            raise HTTPException(403, str(e)) from None
        except PackageError as e:
            raise HTTPException(422, f"cannot load {body.package}: {e}") from None
        except (PermissionError, RuntimeError) as e:
            raise HTTPException(409, str(e)) from None
        return server.describe()

    @router.post("/promote")
    async def promote() -> dict[str, Any]:
        return await act(server.controller.promote)

    @router.post("/rollback")
    async def rollback() -> dict[str, Any]:
        return await act(server.controller.rollback)

    @router.post("/weight")
    async def weight(body: CanaryWeight) -> dict[str, Any]:
        return await act(lambda: server.controller.set_weight(body.weight))

    return router
