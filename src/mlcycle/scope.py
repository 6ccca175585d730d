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


def check_targets(metrics: Mapping[str, Any], targets: Mapping[str, Any]) -> list[dict]:
    """One record per target: metric, target (e.g. ">= 0.95"), measured, passed."""
    checks = []
    for path, bound in targets.items():
        measured = lookup(metrics, path)
        for op, limit in (("min", bound.get("min")), ("max", bound.get("max"))):
            if limit is None:
                continue
            passed = measured >= limit if op == "min" else measured <= limit
            checks.append(
                {
                    "metric": path,
                    "target": f"{'>=' if op == 'min' else '<='} {limit}",
                    "measured": measured,
                    "passed": bool(passed),
                }
            )
    return checks
