"""evaluate: the trained model on the unseen test split.

Writes metrics/eval.json (accuracy, macro-F1, per-class scores, latency, size, confused
pairs, calibration error, worst slice), plots/confusion.csv, plots/reliability.csv,
reports/misclassified.csv, reports/slices.csv and reports/worst_slices.md.
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from mlcycle.atomic import write_csv_atomic, write_json_atomic, write_text_atomic
from mlcycle.data.tables import ValidatedManifest, read_table
from mlcycle.error_analysis import (
    DEFAULT_SLICES,
    add_derived_columns,
    calibration,
    confused_pairs,
    slice_accuracy,
    worst_slices_markdown,
)
from mlcycle.features.registry import from_stats
from mlcycle.models.checkpoint import CheckpointError, load_network
from mlcycle.stages.runner import StageError, log, run_stage

FEATURES = Path("data/features")
CHECKPOINT = Path("models/model.ckpt")
MANIFEST = Path("data/validated/manifest.csv")


@torch.no_grad()
def predict(net: torch.nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Class probabilities for a batch of model inputs."""
    return torch.cat([net(x[i : i + batch_size]).softmax(-1) for i in range(0, len(x), batch_size)])


@torch.no_grad()
def latency_ms(net, featurizer, example: bytes, runs: int) -> dict:
    """Single-example CPU latency from encoded bytes to probabilities: decode, featurize, net."""
    times = []
    for i in range(runs + 5):
        start = time.perf_counter()
        net(featurizer([featurizer.decode(example)])).softmax(-1)
        if i >= 5:  # the first calls warm caches and allocators
            times.append((time.perf_counter() - start) * 1000)
    return {
        "p50": round(float(np.percentile(times, 50)), 3),
        "p95": round(float(np.percentile(times, 95)), 3),
    }


def model_size(net: torch.nn.Module) -> tuple[int, float]:
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return sum(p.numel() for p in net.parameters()), round(buffer.tell() / 1e6, 4)


def scores(y: np.ndarray, pred: np.ndarray, labels: list[str]) -> dict:
    idx = list(range(len(labels)))
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=idx, zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(y, pred)), 4),
        "macro_f1": round(
            float(f1_score(y, pred, labels=idx, average="macro", zero_division=0)), 4
        ),
        "per_class": {
            lab: {
                "precision": round(float(p[i]), 4),
                "recall": round(float(r[i]), 4),
                "f1": round(float(f[i]), 4),
                "support": int(s[i]),
            }
            for i, lab in enumerate(labels)
        },
    }


def error_analysis(params: DictConfig, results: pd.DataFrame, modality: str) -> dict:
    """Slices, calibration and the worst-slices report; returns the metrics they add."""
    manifest = read_table(MANIFEST, ValidatedManifest)
    frame = add_derived_columns(
        results.merge(manifest.drop(columns=["label"]), on="path", how="left")
    )
    columns = DEFAULT_SLICES[modality] + list(params.evaluate.slices)
    table = slice_accuracy(frame, columns, params.evaluate.min_slice_count)
    write_csv_atomic("reports/slices.csv", table)
    write_text_atomic("reports/worst_slices.md", worst_slices_markdown(table, frame))
    ece, reliability = calibration(frame["confidence"].to_numpy(), frame["correct"].to_numpy())
    write_csv_atomic("plots/reliability.csv", reliability)
    worst = table.iloc[0] if len(table) else None
    return {
        "ece": ece,
        "worst_slice": None
        if worst is None
        else {"slice": worst["slice"], "value": worst["value"], "accuracy": worst["accuracy"]},
    }


def evaluate(params: DictConfig) -> None:
    try:
        net, _ = load_network(CHECKPOINT)
    except CheckpointError as e:
        raise StageError(str(e)) from None
    stats = json.loads((FEATURES / "stats.json").read_text())
    labels = np.array(stats["labels"])
    test = torch.load(FEATURES / "test.pt", weights_only=True)
    probs = predict(net, test["x"])
    conf, pred = probs.max(-1)
    y, pred = test["y"].numpy(), pred.numpy()
    featurizer = from_stats(stats)
    latency = latency_ms(
        net, featurizer, Path(test["path"][0]).read_bytes(), params.evaluate.latency_runs
    )
    params_count, size_mb = model_size(net)
    results = pd.DataFrame(
        {
            "path": test["path"],
            "label": labels[y],
            "predicted": labels[pred],
            "confidence": conf.numpy().round(4),
            "correct": pred == y,
        }
    )
    metrics = {
        **scores(y, pred, list(labels)),
        "latency_p50_ms": latency["p50"],
        "latency_p95_ms": latency["p95"],
        "params": params_count,
        "model_size_mb": size_mb,
        "test_examples": len(y),
        "confused_pairs": confused_pairs(y, pred, list(labels)),
        **error_analysis(params, results, stats["modality"]),
    }
    write_json_atomic("metrics/eval.json", metrics)
    write_csv_atomic(
        "plots/confusion.csv", results.rename(columns={"label": "actual"})[["actual", "predicted"]]
    )
    wrong = results[~results["correct"]].drop(columns="correct")
    write_csv_atomic("reports/misclassified.csv", wrong.sort_values("confidence", ascending=False))
    log.info(
        "test accuracy %.4f, macro-F1 %.4f, ECE %.3f, latency p95 %.2f ms, %d params",
        metrics["accuracy"],
        metrics["macro_f1"],
        metrics["ece"],
        latency["p95"],
        params_count,
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage("evaluate", evaluate, argv)


if __name__ == "__main__":
    sys.exit(main())
