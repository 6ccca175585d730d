"""The project's scope: metric targets declared in conf/, checked against an evaluation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def lookup(metrics: Mapping[str, Any], path: str) -> float:
    """The value at a dotted `path` (e.g. ``per_class.yes.recall``) of nested metrics."""
    node: Any = metrics
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"metric {path!r} is not in the evaluation (have: {sorted(metrics)})")
        node = node[part]
    return float(node)


def verdict(op: str, limit: float, measured: float, interval: list[float] | None) -> str:
    """pass | fail, or undecided when the metric's 95 % interval straddles the target."""
    meets = measured >= limit if op == "min" else measured <= limit
    if interval is not None:
        low, high = interval
        if (low < limit <= high) if op == "min" else (low <= limit < high):
            return "undecided"
    return "pass" if meets else "fail"


def check_targets(metrics: Mapping[str, Any], targets: Mapping[str, Any]) -> list[dict]:
    """One record per target: metric, target (e.g. ">= 0.95"), measured, its 95 % interval
    where the evaluation has one (`<metric>_ci95`), verdict and passed.

    A target the interval straddles is `undecided`: the test set is too small to tell, and
    it does not count as passed.
    """
    checks = []
    for path, bound in targets.items():
        measured = lookup(metrics, path)
        interval = metrics.get(f"{path}_ci95")
        for op, limit in (("min", bound.get("min")), ("max", bound.get("max"))):
            if limit is None:
                continue
            result = verdict(op, limit, measured, interval)
            checks.append(
                {
                    "metric": path,
                    "target": f"{'>=' if op == 'min' else '<='} {limit}",
                    "measured": measured,
                    "interval": interval,
                    "verdict": result,
                    "passed": result == "pass",
                }
            )
    return checks
