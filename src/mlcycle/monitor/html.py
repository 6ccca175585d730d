"""The monitoring report as one self-contained HTML page: inline SVG plots, no network.

For each model version: fired alerts, input and output figures, the drift table, every
input statistic's distribution against the reference, the predicted classes and the
confidence against the validation predictions, and the figures over time.
"""

from __future__ import annotations

import html
import io
import time
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render to SVG in memory
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mlcycle.modalities import modality as modality_part  # noqa: E402
from mlcycle.monitor.analysis import FIGURES  # noqa: E402

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; font-size: 0.9em; }
.critical { background: #fdd; } .warning { background: #ffe9c7; } .ok { color: #2a7; }
.plots { display: flex; flex-wrap: wrap; gap: 0.5em; } .plots svg { width: 350px; height: auto; }
"""


def svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def histogram(name: str, reference: list, current: pd.Series) -> str:
    ref = np.asarray([v for v in reference if v is not None and v == v], dtype=float)
    cur = current.dropna().to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(4, 2.6))
    both = np.concatenate([ref, cur]) if len(cur) else ref
    bins = np.histogram_bin_edges(both[np.isfinite(both)], bins=25) if len(both) else 10
    ax.hist(ref, bins=bins, density=True, alpha=0.5, label="reference (training)")
    if len(cur):
        ax.hist(cur, bins=bins, density=True, alpha=0.5, label="production")
    ax.set_title(name)
    ax.legend(fontsize=7)
    return svg(fig)


def shares(name: str, reference: dict[str, float], current: dict[str, float]) -> str:
    labels = sorted(set(reference) | set(current), key=str)
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(4.8, 2.6))
    ax.bar(x - 0.2, [reference.get(k, 0) for k in labels], 0.4, label="reference")
    ax.bar(x + 0.2, [current.get(k, 0) for k in labels], 0.4, label="production")
    ax.set_xticks(x, [str(k) for k in labels], rotation=60, fontsize=7)
    ax.set_title(name)
    ax.legend(fontsize=7)
    return svg(fig)


def timeline(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p>No requests.</p>"
    t = (frame["time"] - frame["time"].min()) / 60
    fig, axes = plt.subplots(1, 3, figsize=(11, 2.6))
    axes[0].plot(t, frame["requests"], marker="o")
    axes[0].set_title("requests per interval")
    axes[1].plot(t, frame["missing"], marker="o", label="missing")
    axes[1].plot(t, frame["undecodable"], marker="o", label="undecodable")
    axes[1].set_title("input problems (share)")
    axes[1].legend(fontsize=7)
    axes[2].plot(t, frame["confidence"], marker="o", label="mean confidence")
    axes[2].set_title("mean confidence")
    for ax in axes:
        ax.set_xlabel("minutes")
    return svg(fig)


def table(rows: list[list[Any]], header: list[str], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        cells = "".join(f"<td>{html.escape(str(v))}</td>" for v in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def render(
    summary: dict[str, Any],
    fired: list[dict[str, Any]],
    log: pd.DataFrame,
    reference: dict[str, Any],
    timeline_frame: pd.DataFrame,
    title: str,
) -> str:
    modality = reference["modality"]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p>{summary['rows']} logged rows ({summary['shadow_rows']} shadow runs), "
        f"written {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}.</p>",
        "<h2>Alerts</h2>",
    ]
    if fired:
        parts.append(
            table(
                [[a["severity"], a["alert"], a["model_version"], a["summary"]] for a in fired],
                ["severity", "alert", "model", "what"],
                [a["severity"] for a in fired],
            )
        )
    else:
        parts.append("<p class='ok'>No alert fired.</p>")
    parts += ["<h2>Over time</h2>", timeline(timeline_frame)]
    served = log[log["route"] != "shadow"]
    for version, data in summary["versions"].items():
        figures, details = data["figures"], data["details"]
        rows = served[served["model_version"].fillna("unknown") == version]
        parts.append(f"<h2>Model {html.escape(version)}</h2>")
        parts.append(table([[FIGURES[k], v] for k, v in figures.items()], ["figure", "value"]))
        if details["by_reason"]:
            parts.append(
                table(
                    [[r, f] for r, f in details["by_reason"].items()], ["refused: reason", "share"]
                )
            )
        if details.get("columns"):  # table rows: the article's missing values, per column
            columns = details["columns"]
            parts.append("<h3>Missing values and unknown categories per column</h3>")
            parts.append(
                table(
                    [
                        [name, c["missing"], c["reference_missing"], c.get("unknown", "")]
                        for name, c in columns.items()
                    ],
                    ["column", "missing (served)", "missing (training)", "unknown category"],
                    [
                        "warning" if c["missing"] - c["reference_missing"] > 0.05 else ""
                        for c in columns.values()
                    ],
                )
            )
        drift_rows = [
            [
                name,
                r.get("method"),
                r.get("p_value", r.get("distance")),
                r.get("psi"),
                r.get("drift"),
            ]
            for name, r in {**details["input_drift"], **details["output_drift"]}.items()
        ]
        parts.append("<h3>Drift against the reference</h3>")
        parts.append(
            table(
                drift_rows,
                ["statistic", "method", "p-value / distance", "PSI", "drifted"],
                ["warning" if r[-1] else "" for r in drift_rows],
            )
        )
        dataset = details["dataset_drift"]
        parts.append(
            f"<p>{dataset['drifted']} of {dataset['statistics']} input statistics drifted "
            f"(share {dataset['share']}).</p><div class='plots'>"
        )
        numeric, categorical, values = modality_part(modality, "monitoring").plotted(
            rows, reference
        )
        for name in numeric:
            current = values[name] if name in values else pd.Series(dtype=float)
            parts.append(histogram(name, reference["inputs"].get(name, []), current))
        for name in categorical:
            current = values[name] if name in values else pd.Series(dtype=str)
            counts = current.dropna().astype(str).value_counts(normalize=True).to_dict()
            ref = pd.Series([str(v) for v in reference["inputs"].get(name, []) if v is not None])
            parts.append(shares(name, ref.value_counts(normalize=True).to_dict(), counts))
        parts.append(
            shares("predicted class", details["reference_label_shares"], details["label_shares"])
        )
        parts.append(
            histogram("confidence", reference["outputs"]["confidence"], rows["confidence"])
        )
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)
