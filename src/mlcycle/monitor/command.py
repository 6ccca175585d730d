"""`mlcycle monitor`: read the prediction log, compare with the reference, alert, report."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from omegaconf import DictConfig, OmegaConf

from mlcycle.atomic import write_json_atomic, write_text_atomic
from mlcycle.models.package import PackageError, load_package
from mlcycle.monitor import alerts, outages
from mlcycle.monitor.analysis import over_time, summarise
from mlcycle.monitor.html import render
from mlcycle.monitor.store import StoreError, read_log


def reference_of(package: str) -> dict[str, Any]:
    """The reference profile inside a package; PackageError if it has none."""
    pkg = load_package(package)
    if pkg.reference is None:
        raise PackageError(f"{package} has no reference profile: package it again (make run)")
    return pkg.reference


def monitor(
    params: DictConfig,
    package: str | None,
    window_s: float | None,
    last: int | None,
    model_version: str | None,
    webhook: str | None,
    rules_out: str | None,
) -> int:
    """Exit code: 0 no critical alert, 1 a critical alert fired, 2 cannot monitor."""
    cfg = params.monitor
    rules = OmegaConf.to_container(cfg.alerts, resolve=True)
    try:
        alerts.check_rules(rules)
        if rules_out:
            write_text_atomic(rules_out, alerts.prometheus_rules(rules))
            print(f"wrote Prometheus alerting rules to {rules_out}")
        reference = reference_of(package or params.paths.package)
        since = None if last else time.time() - (window_s or cfg.window_s)
        gaps = outages.overlapping(params.paths.log_outages, since)
        for gap in gaps:
            print(f"[monitor] WARNING {outages.describe(gap)}: the log misses what it answered")
        log = read_log(cfg.store, since=since, last=last, model_version=model_version)
    except (StoreError, PackageError, ValueError) as e:
        print(f"[monitor] error: {e}", file=sys.stderr)
        return 2
    scope = f"the last {last} predictions" if last else f"the last {window_s or cfg.window_s:g} s"
    if log.empty:
        print(f"[monitor] the prediction log {cfg.store} has no predictions in {scope}")
        return 0
    summary = summarise(log, reference, cfg)
    fired = alerts.evaluate(summary, rules)
    report = {
        "store": cfg.store,
        "scope": scope,
        "written": time.time(),
        "alerts": fired,
        "log_outages": gaps,
        **summary,
    }
    out = params.paths.monitoring
    write_json_atomic(out.json, json.loads(json.dumps(report, default=float)))
    write_text_atomic(
        out.html, render(summary, fired, log, reference, over_time(log), "mlcycle monitoring")
    )
    for version, data in summary["versions"].items():
        f = data["figures"]
        print(
            f"[monitor] {version}: {f['requests']} requests, missing {f['missing_fraction']}, "
            f"non-null {f['non_null_fraction']}, drift share {f['drift_share']}"
        )
    for alert in fired:
        print(
            f"[monitor] {alert['severity'].upper()} {alert['alert']} ({alert['model_version']}): "
            f"{alert['summary']}"
        )
    print(f"[monitor] {len(fired)} alert(s); report: {out.json}, {out.html}")
    if webhook and fired:
        try:
            alerts.post(webhook, fired)
        except httpx.HTTPError as e:
            print(f"[monitor] error: cannot POST the alerts to {webhook}: {e}", file=sys.stderr)
            return 2
    return 1 if any(a["severity"] == "critical" for a in fired) else 0


def export(
    params: DictConfig, labels_csv: str | None, sample: int | None, out: str, fmt: str
) -> int:
    """Write logged inputs as a collect source (with a person's labels), or a sample to label."""
    from mlcycle.monitor.export import export_labelled, sample_for_labelling

    try:
        log = read_log(params.monitor.store)
        if labels_csv:
            written = export_labelled(log, Path(labels_csv), Path(out), fmt)
            print(f"[monitor] exported {written} labelled inputs to {out} ({fmt} source)")
        else:
            written = sample_for_labelling(log, sample or 100, Path(out))
            print(f"[monitor] wrote {written} inputs to label in {out}/to_label.csv")
    except (StoreError, ValueError, FileNotFoundError) as e:
        print(f"[monitor] error: {e}", file=sys.stderr)
        return 2
    return 0
