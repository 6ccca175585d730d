"""Alert rules from conf/ (monitor.alerts): evaluated on a summary, sent to a webhook,
exported as a Prometheus alerting-rules file over the server's monitor gauges."""

from __future__ import annotations

import operator
from typing import Any

import httpx
import yaml

from mlcycle.monitor.analysis import FIGURES

OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq}
SEVERITIES = ("info", "warning", "critical")
GAUGE = "mlcycle_monitor_{}"  # the server's gauge of each figure


def check_rules(
    rules: list[Any], figures: dict[str, str] = FIGURES, where: str = "monitor.alerts"
) -> None:
    """ValueError naming the first rule that names an unknown figure, comparison or severity."""
    for i, rule in enumerate(rules):
        at = f"{where}[{i}] ({rule.get('name', '?')})"
        if rule["metric"] not in figures:
            raise ValueError(
                f"{at}: unknown metric {rule['metric']!r}; choose from {sorted(figures)}"
            )
        if rule["op"] not in OPS:
            raise ValueError(f"{at}: unknown comparison {rule['op']!r}; choose from {sorted(OPS)}")
        if rule["severity"] not in SEVERITIES:
            raise ValueError(f"{at}: severity {rule['severity']!r} is not one of {SEVERITIES}")


def fires(
    rule: dict[str, Any], figures: dict[str, Any], count: int, what: str = "requests"
) -> dict[str, Any] | None:
    """The alert `rule` raises on `figures` (None if it does not), where `count` is the
    sample the figure stands on (`what`): below the rule's `min_count` it may not fire."""
    value = figures.get(rule["metric"])
    if value is None or count < rule["min_count"] or not OPS[rule["op"]](value, rule["threshold"]):
        return None
    description = FIGURES.get(rule["metric"]) or rule["metric"].replace("_", " ")
    return {
        "alert": rule["name"],
        "severity": rule["severity"],
        "metric": rule["metric"],
        "value": value,
        "condition": f"{rule['op']} {rule['threshold']}",
        what: count,
        "summary": f"{description}: {value} ({rule['op']} {rule['threshold']}) over {count} {what}",
    }


def evaluate(summary: dict[str, Any], rules: list[Any]) -> list[dict[str, Any]]:
    """The rules that fire, per model version, each with its figure and sample size.

    A rule needs `min_count` logged requests of the version before it may fire.
    """
    check_rules(rules)
    fired = []
    for version, data in summary["versions"].items():
        figures = data["figures"]
        for rule in rules:
            alert = fires(rule, figures, figures["requests"])
            if alert is not None:
                fired.append({**alert, "model_version": version})
    return fired


def post(url: str, fired: list[dict[str, Any]], timeout: float = 10.0) -> None:
    """POST the fired alerts as JSON ({"alerts": [...]}); httpx.HTTPError if it fails."""
    response = httpx.post(url, json={"source": "mlcycle monitor", "alerts": fired}, timeout=timeout)
    response.raise_for_status()


def prometheus_rules(rules: list[Any], group: str = "mlcycle") -> str:
    """The rules as a Prometheus alerting-rules file over the server's monitor gauges."""
    check_rules(rules)
    out = []
    for rule in rules:
        name = "".join(part.capitalize() for part in rule["name"].split("_"))
        gauge, count = GAUGE.format(rule["metric"]), GAUGE.format("requests")
        condition = f"{gauge} {rule['op']} {rule['threshold']}"
        out.append(
            {
                "alert": f"Mlcycle{name}",
                "expr": f"{condition} and {count} >= {rule['min_count']}",
                "labels": {"severity": rule["severity"]},
                "annotations": {
                    "summary": f"{FIGURES[rule['metric']]} {rule['op']} {rule['threshold']} "
                    "(model {{ $labels.model_version }}: {{ $value }})"
                },
            }
        )
    return yaml.safe_dump({"groups": [{"name": group, "rules": out}]}, sort_keys=False)
