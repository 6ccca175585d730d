"""What the evaluate stage runs for a table task: fraud figures, baselines, every output.

Writes the same files as for audio and images (dvc.yaml declares them): metrics/eval.json,
the confusion and reliability plots, every test prediction, the misclassified rows, the
slices (recall per attack strategy) and the worst-slices summary.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from mlcycle.atomic import write_csv_atomic, write_json_atomic, write_text_atomic
from mlcycle.error_analysis import calibration
from mlcycle.features.store import FeatureStats, load_split
from mlcycle.modalities.table.chunks import chunks, table_columns
from mlcycle.modalities.table.columns import ROWS
from mlcycle.modalities.table.evaluation import (
    baseline_figures,
    fraud_metrics,
    strategy_recall,
)
from mlcycle.models.evaluation import cost_figures, latency_ms, predict, scores
from mlcycle.models.package import Package

log = logging.getLogger("mlcycle")


BASELINE_ROWS = 200_000  # training rows the baselines fit on (a seeded sample beyond)


def _all(split) -> np.ndarray:
    return np.concatenate([x.numpy() for x in split.batches(4096)])


def _sample(split, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of at most `rows` of the split's rows, a seeded sample, read a
    shard at a time: the baselines' training set, bounded as the table grows."""
    y = split.y.numpy()
    keep = np.sort(np.random.default_rng(seed).permutation(len(y))[:rows])
    if len(keep) == len(y):
        return _all(split), y
    parts, start = [], 0
    for x in split.batches(4096):
        inside = keep[(keep >= start) & (keep < start + len(x))] - start
        parts.append(x.numpy()[inside])
        start += len(x)
    return np.concatenate(parts), y[keep]


def test_rows_of(validated: Path, features, meta: list[str], ids: list[str]) -> pd.DataFrame:
    """The test split's valid rows (their time, features and `meta` columns), in the
    order of `ids`, read a chunk at a time: other splits' rows are never held at once."""
    columns = [features.id_column, "split", features.time_column, *features.fields, *meta]
    parts = [c[c["split"] == "test"] for c in chunks(validated / ROWS, columns)]
    return pd.concat(parts).set_index(features.id_column).loc[ids]


def evaluate_rows(params: DictConfig, package: Package, stats: FeatureStats) -> None:
    paths, out, cfg = params.paths, params.paths.evaluation, params.evaluate.table
    if len(stats.labels) != 2 or cfg is None:
        raise ValueError(
            "table evaluation scores two labels (the last the positive one) with "
            f"evaluate.table set; this task has {stats.labels}"
        )
    train, val, test = (load_split(paths.features, s) for s in ("train", "val", "test"))
    p_val = predict(package.net, val.batches()).numpy()[:, 1]
    probs = predict(package.net, test.batches()).numpy()
    p_test, y_val, y = probs[:, 1], val.y.numpy(), test.y.numpy()
    features = package.featurizer.cfg
    meta = [c for c in ("strategy",) if c in table_columns(Path(paths.validated) / ROWS)]
    test_rows = test_rows_of(Path(paths.validated), features, meta, test.paths)
    times = test_rows[package.featurizer.cfg.time_column]
    days = (times.max() - times.min()).total_seconds() / 86400
    fraud = fraud_metrics(y_val, p_val, y, p_test, cfg, days)
    pred = (p_test >= fraud["threshold"]).astype(int)
    categorical = list(range(package.net.numeric, stats.input_shape[0]))
    x_train, y_train = _sample(train, BASELINE_ROWS, seed=0)
    baseline = baseline_figures(
        x_train, y_train, _all(test), y, categorical, cfg.precision, _all(val), y_val
    )
    example = {k: _plain(v) for k, v in test_rows.iloc[0][package.featurizer.cfg.fields].items()}
    latency = latency_ms(package, example, params.evaluate.latency_runs)
    labels = np.array(stats.labels)
    strategy = test_rows["strategy"].fillna("").to_numpy() if meta else np.full(len(y), "")
    slices = strategy_recall(y, pred == 1, strategy)
    ece, reliability = calibration(p_test, y.astype(float), bins=10)  # score vs fraud rate
    metrics = {
        **fraud,
        **scores(y, pred, list(labels)),
        "score_ece": ece,
        "baseline": baseline,
        "gain_over_baseline": {
            name: round(fraud["pr_auc"] - b["pr_auc"], 4) for name, b in baseline.items()
        },
        "recall_per_strategy": dict(zip(slices["strategy"], slices["recall"])),
        **cost_figures(latency, package.net),
        "test_examples": len(y),
        "test_positives": int(y.sum()),
    }
    write_json_atomic(paths.metrics.eval, metrics)
    results = pd.DataFrame(
        {
            "id": test.paths,
            "label": labels[y],
            "predicted": labels[pred],
            "score": p_test.round(6),
            "strategy": strategy,
        }
    )
    write_csv_atomic(
        out.confusion, results.rename(columns={"label": "actual"})[["actual", "predicted"]]
    )
    write_csv_atomic(out.reliability, reliability)
    write_csv_atomic(out.predictions, results)
    wrong = results[results["label"] != results["predicted"]]
    write_csv_atomic(out.misclassified, wrong.sort_values("score", ascending=False))
    write_csv_atomic(out.slices, slices)
    worst = slices.sort_values("recall").head(5)
    write_text_atomic(
        out.worst_slices,
        "# Lowest recall by attack strategy (test, at the alert threshold)\n\n"
        + "\n".join(f"- {r.strategy}: {r.recall:.3f} of {r.count}" for r in worst.itertuples())
        + "\n",
    )
    log.info(
        "test PR-AUC %.4f (95%% %s), ROC-AUC %.4f; at threshold %.4f (val precision >= %.2f): "
        "precision %.3f, recall %.3f, %.1f alerts/day; per strategy %s",
        fraud["pr_auc"],
        fraud["pr_auc_ci95"],
        fraud["roc_auc"],
        fraud["threshold"],
        cfg.precision,
        fraud["precision_at_threshold"],
        fraud["recall_at_precision"],
        fraud["alerts_per_day"],
        metrics["recall_per_strategy"],
    )
    log.info(
        "baselines PR-AUC: majority %.4f, logistic regression %.4f, gradient-boosted trees %.4f",
        *(baseline[k]["pr_auc"] for k in ("majority", "logistic", "gradient_boosting")),
    )


def _plain(value):
    """A row value as JSON would carry it (None for missing, float for numbers)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return float(value) if isinstance(value, (int, float, np.number)) else value


PART = evaluate_rows
