"""The stable model, the canary beside it, and the rollout that moves traffic between them.

`ModelPair` alone changes which models serve. Every change — an admin command, an
analysis decision, a new canary — runs under one asyncio lock, so two admin calls that
arrive together are applied one after the other (the second sees the first's state)
instead of racing. Requests read the pair without the lock: `route` picks a model from
what is serving at that moment.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlcycle import registry
from mlcycle.serve import routing
from mlcycle.serve.canary import (
    IDLE,
    PROGRESSING,
    PROMOTED,
    ROLLED_BACK,
    CanaryController,
    Outcome,
    RolloutConflict,
)
from mlcycle.serve.metrics import ServerMetrics
from mlcycle.serve.models import Deployed, deploy, refusal

log = logging.getLogger("mlcycle.serve")


class PackageOutsideRoots(PermissionError):
    """The admin API was asked to load a package from outside serve.package_roots (403)."""


class CanaryRefused(PermissionError):
    """A candidate that may not ship beside the stable model, not forced (409)."""


class ModelPair:
    """The stable model and the canary (None when no rollout progresses), under the
    rollout controller persisted at `rollout_path`."""

    def __init__(self, serve: Any, rollout_path: str, metrics: ServerMetrics) -> None:
        self.serve, self.metrics = serve, metrics
        self.controller = CanaryController(serve.canary, rollout_path)
        self.stable: Deployed | None = None
        self.canary: Deployed | None = None
        self.lock = asyncio.Lock()
        self.analysing: asyncio.Task | None = None
        # One process owns a rollout state file; another server given the same file (two
        # replicas on a shared volume) serves its stable model and refuses commands.
        self.owner, self.claim, self.holder = True, None, None

    def _claim(self) -> None:
        """Own the rollout state (an exclusive lock on <rollout>.lock, held while the
        server runs) or serve as a follower: a rollout across replicas belongs to Argo
        Rollouts or Flagger (`mlcycle canary export`), not to one replica's file."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no advisory locks (Windows)
            return
        path = Path(self.controller.path).with_suffix(".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # noqa: SIM115 - held for the server's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            self.owner = False
            self.holder = holder
            log.warning(
                "the rollout in %s is owned by another server (pid %s): serving its stable "
                "model, canary commands refused",
                self.controller.path,
                holder,
            )
            return
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self.claim = handle

    def _owned(self) -> None:
        if not self.owner:
            raise RolloutConflict(
                f"the rollout in {self.controller.path} is owned by another server (pid "
                f"{self.holder}); a rollout across replicas belongs to Argo Rollouts or "
                "Flagger (mlcycle canary export --argo/--flagger)"
            )

    # -- life cycle -------------------------------------------------------------------
    async def start(self, stable_path: str) -> None:
        """Serve `stable_path`, or what a saved rollout left serving: a promoted model stays
        stable through a later canary's rollback and through every restart, and a
        progressing canary resumes at its weight."""
        path = stable_path
        self._claim()
        self.controller.owner = self.owner  # a follower never writes the state
        if self.controller.load() and self.controller.status != IDLE:
            path = self.controller.state["stable"]["path"]
            log.info(
                "resuming the rollout in %s (%s): stable is %s; delete the file to serve %s",
                self.controller.path,
                self.controller.status,
                path,
                stable_path,
            )
        self.stable = self._deploy(path)
        self.controller.set_stable(record_of(self.stable))
        if self.controller.status == PROGRESSING and self.owner:
            self.canary = self._deploy(self.controller.state["canary"]["path"])
            log.info("resumed the rollout of %s at %d %%", self.canary.version, self.weight)
        self._publish_weight()

    async def stop(self) -> None:
        for model in (self.stable, self.canary):
            if model is not None:
                await model.batcher.stop()
        if self.claim is not None:
            self.claim.close()  # the lock goes with it

    def _deploy(self, path: str) -> Deployed:
        model = deploy(path, self.serve, self.metrics)
        model.batcher.start()
        return model

    # -- requests ---------------------------------------------------------------------
    @property
    def weight(self) -> int:
        return self.controller.weight if self.canary is not None else 0

    def route(self, key: str) -> tuple[str, Deployed]:
        """The route (stable | canary) and model for a request key: sticky, by weight."""
        if self.canary is not None and routing.route(key, self.weight) == "canary":
            return "canary", self.canary
        return "stable", self.stable

    def record(self, outcome: Outcome) -> None:
        self.controller.record(outcome)

    # -- rollout --------------------------------------------------------------------
    async def analyse(self) -> None:
        """Let the controller judge the interval and apply its decision. Never raises, so
        neither a prediction nor the ticker fails with it (a failed save of the state is
        the controller's `save_error`, shown on /v1/models)."""
        if not self.owner:
            return
        try:
            async with self.lock:
                if self.controller.analyse() is not None:
                    await self._apply()
        except Exception:
            log.exception("rollout analysis failed")

    def analyse_soon(self) -> None:
        """Analyse after the response, off the request's path (a promotion drains the old
        model's queue, which no request should wait for)."""
        if self.analysing is None or self.analysing.done():
            self.analysing = asyncio.get_running_loop().create_task(self.analyse())

    async def _apply(self) -> None:
        """Make the models match the controller's state after a decision."""
        status = self.controller.status
        if self.canary is not None and status == PROMOTED:
            old, self.stable, self.canary = self.stable, self.canary, None
            await old.batcher.stop()
            log.info("promoted %s: it now serves every request", self.stable.version)
        elif self.canary is not None and status == ROLLED_BACK:
            old, self.canary = self.canary, None
            await old.batcher.stop()
            log.info("rolled back %s", old.version)
        self._publish_weight()

    async def start_canary(self, path: str, force: bool) -> Deployed:
        """Roll out the package at `path`: RolloutConflict while another one progresses,
        PackageOutsideRoots outside serve.package_roots, PackageError if it does not load,
        CanaryRefused if it may not ship (unless `force`)."""
        async with self.lock:
            self._owned()
            if self.controller.status == PROGRESSING:
                raise RolloutConflict(
                    f"canary {self.canary.version} is still rolling out: promote or roll it back"
                )
            if registry.is_reference(path):  # name@version|stage: the registry's folder
                root = self.serve.package_roots[0]
                path = (await asyncio.to_thread(registry.resolve, path, ".", root)).path
            roots = [Path(root).resolve() for root in self.serve.package_roots]
            if not any(Path(path).resolve().is_relative_to(root) for root in roots):
                raise PackageOutsideRoots(
                    f"{path} is not under serve.package_roots {list(self.serve.package_roots)}"
                )
            candidate = await asyncio.to_thread(deploy, path, self.serve, self.metrics)
            why = refusal(self.stable.package, candidate.package)
            if why and not force:
                raise CanaryRefused(f"canary {path} refused: {why} (force it with force=true)")
            self.controller.start(record_of(candidate, forced=bool(why)))
            candidate.batcher.start()
            self.canary = candidate
            self._publish_weight()
            log.info("canary %s started at %d %%", candidate.version, self.weight)
            return candidate

    async def command(self, action: Callable[[CanaryController], Any]) -> None:
        """A controller command by hand (promote, rollback, weight), then its effect;
        RolloutConflict when it cannot be done now."""
        async with self.lock:
            self._owned()
            action(self.controller)
            await self._apply()

    def _publish_weight(self) -> None:
        self.metrics.canary_weight.set(self.weight / 100)

    def describe(self) -> dict[str, Any]:
        state = self.controller.state
        canary = None
        if self.canary is not None:
            canary = {**self.canary.describe(), "weight": self.weight, "step": state["step"]}
        return {
            "stable": self.stable.describe(),
            "canary": canary,
            "rollout": {
                "status": state["status"],
                "weight": self.weight,
                "step": state["step"],
                "steps": list(self.serve.canary.steps),
                "failed_intervals": state["failed_intervals"],
                "last_canary": state["canary"],
                "history": state["history"],
                "save_error": self.controller.save_error,
                "owner": self.owner,  # False: another server owns this rollout's state
            },
        }


def record_of(model: Deployed, forced: bool = False) -> dict[str, Any]:
    """A model as the rollout state keeps it."""
    return {"path": model.path, "version": model.version, "forced": forced}
