"""The project's scope: metric targets declared in conf/, checked against an evaluation."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# Figures of the held_out split (evaluate), which exists only where a source held voices
# out of training: a target on them is not measured, rather than an error, without one.
HELD_OUT_PREFIX = "held_out_"
Z95 = 1.959964  # the normal quantile of a two-sided 95 % interval
MAX_EXAMPLES = 10_000_000


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
    it does not count as passed. `min_gain: x` asks for at least x over the best baseline
    of the evaluation (`baseline.<name>.<metric>`), e.g. accuracy >= baseline + 0.2.
    """
    checks = []
    for path, bound in targets.items():
        if path.startswith(HELD_OUT_PREFIX) and path not in metrics:
            # only where a source held voices out: a user's own data alone has none
            checks.append(not_measured(path))
            continue
        measured = lookup(metrics, path)
        interval = metrics.get(f"{path}_ci95")
        limits = [
            (op, bound.get(op), f"{'>=' if op == 'min' else '<='} {bound.get(op)}")
            for op in ("min", "max")
        ]
        if bound.get("min_gain") is not None:
            best = best_baseline(metrics, path)
            limit = round(best + bound["min_gain"], 4)
            limits.append(("min", limit, f">= baseline {best} + {bound['min_gain']}"))
        for op, limit, target in limits:
            if limit is None:
                continue
            result = verdict(op, limit, measured, interval)
            checks.append(
                {
                    "metric": path,
                    "target": target,
                    "measured": measured,
                    "interval": interval,
                    "verdict": result,
                    "passed": result == "pass",
                    # how many examples would decide it, were the figure to hold
                    "examples_to_decide": (
                        examples_to_decide(measured, limit) if result == "undecided" else None
                    ),
                }
            )
    return checks


def not_measured(path: str) -> dict:
    """The record of a held-out target the evaluation could not measure: no verdict,
    and it does not fail the gate."""
    return {
        "metric": path,
        "target": None,
        "measured": None,
        "interval": None,
        "verdict": "not_measured",
        "passed": True,
        "examples_to_decide": None,
    }


def wilson(p: float, n: int) -> tuple[float, float]:
    """Wilson's 95 % interval of a proportion `p` measured on `n` examples."""
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return centre - half, centre + half


def examples_to_decide(measured: float, limit: float) -> int | None:
    """The fewest examples whose 95 % interval around `measured` leaves `limit` out:
    what a test set must hold for an undecided target to be decided, if the figure
    measured now holds (Wilson's interval, that of accuracy; for other figures, such as
    macro-F1, an estimate). None when the figure sits on the target itself or is not a
    proportion."""
    if not 0.0 <= measured <= 1.0 or measured == limit:
        return None

    def decides(n: int) -> bool:
        low, high = wilson(measured, n)
        return not low < limit <= high

    if not decides(MAX_EXAMPLES):
        return None
    low, high = 1, MAX_EXAMPLES
    while low < high:  # the interval narrows as n grows: the first n that decides
        mid = (low + high) // 2
        low, high = (low, mid) if decides(mid) else (mid + 1, high)
    return low


def best_baseline(metrics: Mapping[str, Any], path: str) -> float:
    """The best baseline's value of `path`; KeyError if the evaluation has no baselines."""
    found = [lookup(b, path) for b in metrics.get("baseline", {}).values()]
    if not found:
        raise KeyError(f"target on {path!r} is relative to a baseline the evaluation lacks")
    return max(found)
