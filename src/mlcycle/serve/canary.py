"""The canary rollout's controller: steps, analysis intervals, checks, decisions.

No HTTP in here. The server reports each request's outcome (`record`) and asks, after
requests and once a second, whether an analysis interval is complete (`analyse`). An
interval ends after `interval_requests` canary requests or `interval_s` seconds. Every
decision is kept with its figures, and the state is written atomically on every change
(a failed write is `save_error`, never an exception), so a restarted server resumes
where it was.

    state        event                  what follows
    idle         start                  progressing at steps[0]
    idle         weight/promote/rollb.  refused (RolloutConflict: no canary; HTTP 409)
    progressing  pass                   the next step above the weight (a weight set by
                                        hand never falls); past the last: promoted
    progressing  fail                   failed_intervals + 1; at failure_threshold:
                                        rolled_back
    progressing  inconclusive           count + 1; at max_inconclusive: rolled_back
    progressing  weight N (by hand)     progressing at N, a new interval
    progressing  promote / rollback     promoted / rolled_back
    progressing  start                  refused (RolloutConflict: still rolling out)
    promoted,    start                  progressing at steps[0]
    rolled_back  weight/promote/rollb.  refused (no canary)
    any          save fails             the same state in memory, save_error set

A pass or a fail resets the inconclusive count. On restart the server serves the stable
model the state names (any state but idle) and resumes a progressing canary; a restart is
a transition into the same state (tests/serve/test_canary.py walks every row, restarting
after each). The server applies commands one at a time (mlcycle.serve.pair).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlcycle.atomic import write_json_atomic

# Rollout states, as /v1/models shows them.
IDLE = "idle"  # no canary
PROGRESSING = "progressing"  # a canary takes its step's share of traffic, analysed
PROMOTED = "promoted"  # the last canary passed every step and serves everything
ROLLED_BACK = "rolled_back"  # the last canary failed (or was rolled back by hand)


class RolloutConflict(RuntimeError):
    """A command the rollout's state does not allow now (HTTP 409)."""


@dataclass
class Outcome:
    """What one request did on one model. route: stable | canary | shadow."""

    route: str
    failed: bool  # the model raised (a 5xx had the request not been served otherwise)
    latency_s: float
    label: str | None = None
    confidence: float | None = None
    agrees: bool | None = None  # shadow only: the canary gave stable's label


@dataclass
class Interval:
    started: float
    outcomes: list[Outcome] = field(default_factory=list)

    def of(self, route: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.route == route]


def p99_ms(outcomes: list[Outcome]) -> float | None:
    times = [o.latency_s for o in outcomes if not o.failed]
    return round(float(np.percentile(times, 99)) * 1000, 3) if times else None


def mean_confidence(outcomes: list[Outcome]) -> float | None:
    values = [o.confidence for o in outcomes if o.confidence is not None]
    return float(np.mean(values)) if values else None


def check(name: str, value: float | None, op: str, limit: float) -> dict[str, Any]:
    """A check record; a value that cannot be measured (None) does not fail."""
    passed = None if value is None else (value <= limit if op == "<=" else value >= limit)
    value = None if value is None else round(float(value), 4)
    return {"check": name, "value": value, "target": f"{op} {limit}", "passed": passed}


def run_checks(interval: Interval, checks: Any) -> list[dict[str, Any]]:
    """The canary's figures over one interval against serve.canary.checks."""
    canary, stable, shadow = interval.of("canary"), interval.of("stable"), interval.of("shadow")
    answered = [o for o in canary if not o.failed]
    n = len(canary)
    canary_p99, stable_p99 = p99_ms(canary), p99_ms(stable)
    canary_conf, stable_conf = mean_confidence(answered), mean_confidence(stable)
    agreement = (
        float(np.mean([o.agrees for o in shadow if o.agrees is not None]))
        if len([o for o in shadow if o.agrees is not None]) >= checks.min_mirrored
        else None
    )
    return [
        check("error_rate", sum(o.failed for o in canary) / n, "<=", checks.max_error_rate),
        check("latency_p99_ms", canary_p99, "<=", checks.max_latency_p99_ms),
        check(
            "latency_p99_ratio",
            canary_p99 / stable_p99 if canary_p99 and stable_p99 else None,
            "<=",
            checks.max_latency_p99_ratio,
        ),
        check(
            "non_null_fraction",
            sum(o.label is not None for o in answered) / n,
            ">=",
            checks.min_non_null_fraction,
        ),
        check(
            "confidence_ratio",
            canary_conf / stable_conf if canary_conf is not None and stable_conf else None,
            ">=",
            checks.min_confidence_ratio,
        ),
        check("agreement", agreement, ">=", checks.min_agreement),
    ]


class CanaryController:
    """The rollout state machine over serve.canary (`cfg`), persisted at `path`."""

    def __init__(
        self, cfg: Any, path: str | Path, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not cfg.steps or any(not 0 < s <= 100 for s in cfg.steps):
            raise ValueError(f"serve.canary.steps must be weights in (0, 100], got {cfg.steps}")
        if list(cfg.steps) != sorted(cfg.steps):
            raise ValueError(f"serve.canary.steps must rise, got {list(cfg.steps)}")
        self.cfg, self.path, self.clock = cfg, Path(path), clock
        self.owner = True  # False: another server owns this file (mlcycle.serve.pair)
        self.state: dict[str, Any] = {
            "status": IDLE,
            "stable": None,
            "canary": None,
            "weight": 0,
            "step": None,
            "failed_intervals": 0,
            "history": [],
        }
        self.interval = Interval(clock())
        self.save_error: str | None = None

    # -- persistence ------------------------------------------------------------------
    def load(self) -> bool:
        """Resume from `path` if a state was saved there; True if it was."""
        if not self.path.is_file():
            return False
        try:
            self.state = json.loads(self.path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"rollout state {self.path} is not valid JSON: {e}") from None
        self.interval = Interval(self.clock())
        return True

    def save(self) -> None:
        """Persist the state; a failure (a full disk, a vanished folder) is kept in
        `save_error` and logged, and the decision stands in memory: saving must never
        fail the request or the ticker that triggered it. The next save retries."""
        if not self.owner:  # a follower of another server's rollout writes nothing
            return
        try:
            write_json_atomic(self.path, self.state)
            self.save_error = None
        except OSError as e:
            self.save_error = f"cannot save the rollout state to {self.path}: {e}"
            logging.getLogger("mlcycle.serve").error("%s", self.save_error)

    def log(self, event: str, **figures: Any) -> dict[str, Any]:
        entry = {"time": time.time(), "event": event, "weight": self.state["weight"], **figures}
        self.state["history"].append(entry)
        return entry

    # -- commands -------------------------------------------------------------------
    @property
    def status(self) -> str:
        return self.state["status"]

    @property
    def weight(self) -> int:
        return self.state["weight"] if self.status == PROGRESSING else 0

    def set_stable(self, model: dict[str, Any]) -> None:
        self.state["stable"] = model
        self.save()

    def start(self, model: dict[str, Any]) -> None:
        """Begin a rollout of `model` (path, version, ...) at the first step's weight."""
        if self.status == PROGRESSING:
            raise RolloutConflict(
                f"canary {self.state['canary']['version']} is still rolling out: "
                "promote or roll it back first"
            )
        self.state.update(
            status=PROGRESSING,
            canary=model,
            weight=self.cfg.steps[0],
            step=0,
            failed_intervals=0,
            inconclusive_intervals=0,
        )
        self.interval = Interval(self.clock())
        self.log("started", canary=model["version"], forced=model.get("forced", False))
        self.save()

    def promote(self, reason: str = "promoted by hand") -> dict[str, Any]:
        """The canary becomes the stable model; returns it."""
        self._require_canary()
        model = self.state["canary"]
        self.state.update(status=PROMOTED, stable=model, weight=0, step=None)
        self.log("promoted", canary=model["version"], reason=reason)
        self.save()
        return model

    def rollback(self, reason: str = "rolled back by hand") -> None:
        self._require_canary()
        self.state.update(status=ROLLED_BACK, weight=0, step=None)
        self.log("rolled_back", canary=self.state["canary"]["version"], reason=reason)
        self.save()

    def set_weight(self, weight: int) -> None:
        """Pin the canary's share by hand (0-100); analysis goes on from there."""
        self._require_canary()
        if not 0 <= weight <= 100:
            raise ValueError(f"weight must be 0-100, got {weight}")
        self.state["weight"] = weight
        self.interval = Interval(self.clock())
        self.log("weight_set", canary=self.state["canary"]["version"])
        self.save()

    def _require_canary(self) -> None:
        if self.status != PROGRESSING:
            raise RolloutConflict(f"no canary is rolling out (rollout is {self.status})")

    # -- analysis -------------------------------------------------------------------
    def record(self, outcome: Outcome) -> None:
        if self.status == PROGRESSING:
            self.interval.outcomes.append(outcome)

    def analyse(self) -> dict[str, Any] | None:
        """Decide on the current interval if it is complete; returns the decision."""
        if self.status != PROGRESSING:
            return None
        cfg = self.cfg
        canary = self.interval.of("canary")
        elapsed = self.clock() - self.interval.started
        if len(canary) < cfg.interval_requests and elapsed < cfg.interval_s:
            return None
        figures = {"canary_requests": len(canary), "seconds": round(elapsed, 2)}
        if len(canary) < cfg.min_requests:
            decision = self.log("inconclusive", verdict="inconclusive", **figures, checks=[])
            # as Argo Rollouts ends a run after too many inconclusive measurements: a
            # rollout nobody can judge does not hold traffic forever
            inconclusive = self.state.get("inconclusive_intervals", 0) + 1
            self.state["inconclusive_intervals"] = inconclusive
            if inconclusive >= cfg.max_inconclusive:
                self.rollback(f"{inconclusive} inconclusive intervals in a row")
        else:
            self.state["inconclusive_intervals"] = 0
            checks = run_checks(self.interval, cfg.checks)
            failed = [c["check"] for c in checks if c["passed"] is False]
            verdict = "fail" if failed else "pass"
            decision = self.log(
                "analysis", verdict=verdict, failed=failed, checks=checks, **figures
            )
            if failed:
                self.state["failed_intervals"] += 1
                if self.state["failed_intervals"] >= cfg.failure_threshold:
                    self.rollback(f"failed {self.state['failed_intervals']} intervals: {failed}")
            else:
                # the next step above the weight now: a weight set by hand never falls
                higher = [i for i, w in enumerate(cfg.steps) if w > self.state["weight"]]
                if higher:
                    self.state["step"] = higher[0]
                    self.state["weight"] = cfg.steps[higher[0]]
                    self.log("step", canary=self.state["canary"]["version"])
                else:
                    self.promote("passed every step")
        self.interval = Interval(self.clock())
        self.save()
        return decision
