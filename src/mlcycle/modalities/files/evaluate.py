"""evaluate for files: a classifier on the unseen test split, and on voices never trained
on: accuracy (95 % interval), macro-F1, baselines, per class, latency, size, confused
pairs, calibration, slices; the held_out_* figures where a source held voices out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from mlcycle.atomic import write_csv_atomic, write_json_atomic, write_text_atomic
from mlcycle.data.splits import HELD_OUT
from mlcycle.data.tables import read_validated
from mlcycle.error_analysis import analyse, confused_pairs
from mlcycle.features.store import FeatureStats, has_split, load_split
from mlcycle.models.evaluation import (
    baselines,
    cost_figures,
    intervals,
    latency_ms,
    predict,
    scores,
)
from mlcycle.models.package import Package

log = logging.getLogger("mlcycle")


@dataclass(frozen=True)
class FileEvaluate:
    slices: list[str]  # the manifest columns every evaluation slices by (+ evaluate.slices)
    pool: Callable[[Iterable[torch.Tensor]], np.ndarray]  # the baseline's features

    def __call__(self, params: DictConfig, package: Package, stats: FeatureStats) -> None:
        paths, out = params.paths, params.paths.evaluation
        test = load_split(paths.features, "test")
        probs = predict(package.net, test.batches())
        conf, pred = probs.max(-1)
        labels = np.array(stats.labels)
        y, pred = test.y.numpy(), pred.numpy()
        example = Path(test.paths[0]).read_bytes()
        latency = latency_ms(package, example, params.evaluate.latency_runs)
        results = pd.DataFrame(
            {
                "path": test.paths,
                "label": labels[y],
                "predicted": labels[pred],
                "confidence": conf.numpy().round(4),
                "correct": pred == y,
            }
        )
        analysis = analyse(
            results,
            read_validated(paths.validated),
            self.slices + list(params.evaluate.slices),
            params.evaluate.min_slice_count,
        )
        train = load_split(paths.features, "train")
        baseline = baselines(train.batches(), train.y, test.batches(), y, list(labels), self.pool)
        measured = scores(y, pred, list(labels))
        held_out = held_out_figures(package, paths.features, paths.validated, list(labels))
        metrics = {
            **measured,
            **intervals(y, pred, len(labels)),
            "baseline": baseline,
            "gain_over_baseline": {
                name: round(measured["accuracy"] - figures["accuracy"], 4)
                for name, figures in baseline.items()
            },
            **cost_figures(latency, package.net),
            "test_examples": len(y),
            "confused_pairs": confused_pairs(y, pred, list(labels)),
            **analysis.metrics,
            **held_out,
        }
        write_json_atomic(paths.metrics.eval, metrics)
        write_csv_atomic(
            out.confusion, results.rename(columns={"label": "actual"})[["actual", "predicted"]]
        )
        write_csv_atomic(out.reliability, analysis.reliability)
        probabilities = pd.DataFrame(probs.numpy().round(6), columns=[f"p_{lab}" for lab in labels])
        write_csv_atomic(out.predictions, pd.concat([results, probabilities], axis=1))
        wrong = results[~results["correct"]].drop(columns="correct")
        write_csv_atomic(out.misclassified, wrong.sort_values("confidence", ascending=False))
        write_csv_atomic(out.slices, analysis.slices)
        write_text_atomic(out.worst_slices, analysis.worst_slices)
        log.info(
            "test accuracy %.4f, macro-F1 %.4f, ECE %.3f, latency p95 %.2f ms (CPU %.2f ms), "
            "%d params",
            metrics["accuracy"],
            metrics["macro_f1"],
            metrics["ece"],
            latency["p95"],
            latency["cpu_p95"],
            metrics["params"],
        )
        if held_out:
            low, high = held_out["held_out_accuracy_ci95"]
            log.info(
                "held-out voices (never trained on): accuracy %.4f (95%% %.3f-%.3f) on %d clips; "
                "per voice %s",
                held_out["held_out_accuracy"],
                low,
                high,
                held_out["held_out_examples"],
                held_out["held_out_per_voice"],
            )
        log.info(
            "baselines: majority class %.4f, logistic regression on pooled features %.4f",
            baseline["majority"]["accuracy"],
            baseline["logistic"]["accuracy"],
        )


def held_out_figures(package: Package, features: str, validated: str, labels: list[str]) -> dict:
    """Accuracy (95 % interval), macro-F1 and accuracy per voice on the held_out split;
    {} where no source held voices out."""
    if not has_split(features, HELD_OUT):
        return {}
    split = load_split(features, HELD_OUT)
    pred = predict(package.net, split.batches()).argmax(-1).numpy()
    y = split.y.numpy()
    measured = scores(y, pred, labels)
    manifest = read_validated(validated).set_index("path")
    voices = manifest.reindex(split.paths)["accent"].fillna("?").to_numpy()
    per_voice = {
        str(voice): round(float((pred[voices == voice] == y[voices == voice]).mean()), 4)
        for voice in sorted(set(voices))
    }
    return {
        "held_out_accuracy": measured["accuracy"],
        "held_out_accuracy_ci95": intervals(y, pred, len(labels))["accuracy_ci95"],
        "held_out_macro_f1": measured["macro_f1"],
        "held_out_examples": len(y),
        "held_out_per_voice": per_voice,
    }
