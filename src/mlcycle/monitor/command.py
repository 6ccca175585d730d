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
    return announce(fired, f"{out.json}, {out.html}", webhook)


def announce(fired: list[dict[str, Any]], report: str, webhook: str | None) -> int:
    """Print the fired alerts (and POST them to `webhook`); the exit code: 1 if one is
    critical, 2 if the webhook failed, else 0."""
    for alert in fired:
        where = alert["model_version"] + (
            f", window {alert['window']}" if "window" in alert else ""
        )
        print(
            f"[monitor] {alert['severity'].upper()} {alert['alert']} ({where}): {alert['summary']}"
        )
    print(f"[monitor] {len(fired)} alert(s); report: {report}")
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
    """Write logged inputs as a collect source (with a person's labels), or a sample to label;
    the modality's monitoring part knows what its inputs are (files, rows)."""
    from mlcycle.modalities import modality

    try:
        part = modality(params.task.modality, "monitoring")
        log = read_log(params.monitor.store)
        if labels_csv:
            written = part.export(params, log, Path(labels_csv), Path(out), fmt)
            print(f"[monitor] exported {written} labelled inputs to {out}")
        else:
            written = part.sample(params, log, sample or 100, Path(out))
            print(f"[monitor] wrote {written} inputs to label in {out}/to_label.csv")
    except (StoreError, ValueError, FileNotFoundError) as e:
        print(f"[monitor] error: {e}", file=sys.stderr)
        return 2
    return 0


def labels(
    params: DictConfig,
    labels_file: str,
    packages: list[str] | None,
    window: str | None,
    unlabelled_as: str | None,
    webhook: str | None,
) -> int:
    """Realised performance per window from late labels, beside CBPE's estimate; alerts.
    Exit code: 0 no critical alert, 1 a critical alert fired, 2 cannot compute it."""
    from mlcycle.monitor import labels as late
    from mlcycle.monitor.cbpe import Estimator

    cfg = params.monitor.labels
    rules = OmegaConf.to_container(cfg.alerts, resolve=True)
    window = window or cfg.window
    unlabelled_as = unlabelled_as or cfg.unlabelled_as
    try:
        alerts.check_rules(rules, late.FIGURES, "monitor.labels.alerts")
        step = late.duration(window)
        pkgs = [load_package(p) for p in packages or [params.paths.package]]
        pkg = pkgs[0]
        table = getattr(pkg.featurizer.cfg, "id_column", None) is not None
        id_column = pkg.featurizer.cfg.id_column if table else None
        time_column = pkg.featurizer.cfg.time_column if table else None
        if unlabelled_as is not None and unlabelled_as not in pkg.labels:
            raise ValueError(
                f"--unlabelled-as {unlabelled_as!r}: the model's labels are {pkg.labels}"
            )
        given, key = late.read_labels(Path(labels_file), pkg.labels, id_column)
        answered = late.answers(read_log(params.monitor.store), id_column, time_column)
        if answered.empty:
            raise ValueError(f"the prediction log {params.monitor.store} holds no answers")
        estimators = {p.version: e for p in pkgs if (e := Estimator.of(p.reference)) is not None}
        positive = pkg.decision["positive"] if pkg.decision else None
        versions, join = late.performance(
            answered, given, key, step, positive, estimators, unlabelled_as
        )
        if join["matched"] == 0:
            raise ValueError(
                f"none of the {join['labels']} labels in {labels_file} matches an answer in "
                f"the log (by {key}; e.g. {join['unmatched_examples'][:3]})"
            )
    except (StoreError, PackageError, ValueError, FileNotFoundError) as e:
        print(f"[monitor] error: {e}", file=sys.stderr)
        return 2
    fired = []
    for version, data in versions.items():
        for w in data["windows"]:
            for rule in rules:
                what = late.SAMPLE.get(rule["metric"], "answered")
                alert = alerts.fires(rule, w, w[what] or 0, what.replace("_", " "))
                if alert is not None:
                    fired.append({**alert, "model_version": version, "window": w["start"]})
    report = {
        "labels_file": str(labels_file),
        "joined_on": key,
        "clock": answered.attrs["clock"],
        "window": window,
        "positive": positive,
        "unlabelled_as": unlabelled_as,
        "written": time.time(),
        **join,
        "alerts": fired,
        "versions": versions,
    }
    out = params.paths.monitoring.labels
    write_json_atomic(out, json.loads(json.dumps(report, default=float)))
    print(
        f"[monitor] {join['matched']} of {join['labels']} labels joined to answers by {key}"
        f" ({join['unmatched']} for requests the log does not hold); windows of {window} of "
        f"{answered.attrs['clock']}"
    )
    show = ("answered", "labelled", "realised_precision", "realised_recall")
    show += ("estimated_precision", "estimated_recall") if positive else ("realised_accuracy",)
    for version, data in versions.items():
        print(f"[monitor] {version}: {'start':<26}" + "".join(f"{s:>20}" for s in show))
        for w in [*data["windows"], {"start": "total", **data["total"]}]:
            cells = "".join(f"{'-' if w[s] is None else w[s]:>20}" for s in show)
            print(f"[monitor] {version}: {w['start']:<26}{cells}")
    return announce(fired, out, webhook)
