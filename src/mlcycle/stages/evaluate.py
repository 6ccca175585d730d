"""evaluate: the trained model on the unseen test split.

Writes metrics/eval.json (accuracy, macro-F1, per-class scores, latency, size), the
confusion matrix data plots/confusion.csv and reports/misclassified.csv.
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

from mlcycle.atomic import write_csv_atomic, write_json_atomic
from mlcycle.features.featurizer import from_stats
from mlcycle.models.checkpoint import CheckpointError, load_network
from mlcycle.stages._main import StageError, log, run_stage

FEATURES = Path("data/features")
CHECKPOINT = Path("models/model.ckpt")


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


def evaluate(params: DictConfig) -> None:
    try:
        net, hp = load_network(CHECKPOINT)
    except CheckpointError as e:
        raise StageError(str(e)) from None
    stats = json.loads((FEATURES / "stats.json").read_text())
    labels = stats["labels"]
    test = torch.load(FEATURES / "test.pt", weights_only=True)
    probs = predict(net, test["x"])
    conf, pred = probs.max(-1)
    y, pred = test["y"].numpy(), pred.numpy()
    featurizer = from_stats(stats)
    params_count, size_mb = model_size(net)
    metrics = {
        **scores(y, pred, labels),
        "latency_ms": latency_ms(
            net, featurizer, Path(test["path"][0]).read_bytes(), params.evaluate.latency_runs
        ),
        "params": params_count,
        "model_size_mb": size_mb,
        "test_examples": len(y),
    }
    write_json_atomic("metrics/eval.json", metrics)
    names = np.array(labels)
    write_csv_atomic(
        "plots/confusion.csv", pd.DataFrame({"actual": names[y], "predicted": names[pred]})
    )
    wrong = pred != y
    write_csv_atomic(
        "reports/misclassified.csv",
        pd.DataFrame(
            {
                "path": np.array(test["path"])[wrong],
                "label": names[y][wrong],
                "predicted": names[pred][wrong],
                "confidence": conf.numpy()[wrong].round(4),
            }
        ).sort_values("confidence", ascending=False),
    )
    log.info(
        "test accuracy %.4f, macro-F1 %.4f, latency p95 %.2f ms, %d params",
        metrics["accuracy"],
        metrics["macro_f1"],
        metrics["latency_ms"]["p95"],
        params_count,
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage("evaluate", evaluate, argv)


if __name__ == "__main__":
    sys.exit(main())
