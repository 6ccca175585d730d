"""evaluate for two-label table tasks (fraud): the figures a fraud team works with.

* Ranking: PR-AUC (average precision; chance is the base rate) and ROC-AUC on the test
  split (the future, accounts never trained on), each with a bootstrap 95 % interval.
* The alert threshold: the lowest score whose precision on the validation split reaches
  evaluate.table.precision, stored in the package. On test, at that threshold: precision,
  recall (`recall_at_precision`, what the team gets), alerts per day.
* Recall per attack strategy (meta column `strategy`): precision has no per-strategy
  meaning (a false alarm belongs to no strategy), so it is reported once.
* Calibration: Brier score, and the expected calibration error and reliability table of
  the fraud score against the fraud rate (error_analysis.calibration, as for files).
* Baselines on the same features: the majority class, logistic regression, and
  gradient-boosted trees (HistGradientBoostingClassifier, categories as categories): the
  model a tabular practitioner tries first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def threshold_for(y: np.ndarray, p: np.ndarray, precision: float) -> float:
    """The lowest score threshold whose precision on (y, p) is at least `precision`;
    1.0 (no alerts) where no threshold reaches it."""
    order = np.argsort(-p, kind="stable")
    hits = np.cumsum(y[order])
    prec = hits / np.arange(1, len(y) + 1)
    ok = np.nonzero(prec >= precision)[0]
    if not len(ok):
        return 1.0
    return float(p[order][ok[-1]])


def at_threshold(y: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    alert = p >= threshold
    tp = int((alert & (y == 1)).sum())
    return {
        "precision": round(tp / max(int(alert.sum()), 1), 4),
        "recall": round(tp / max(int(y.sum()), 1), 4),
        "alerts": int(alert.sum()),
    }


def ranking(y: np.ndarray, p: np.ndarray, resamples: int, seed: int = 0) -> dict:
    """PR-AUC and ROC-AUC with bootstrap 95 % intervals (rows resampled)."""
    rng = np.random.default_rng(seed)
    pr, roc = [], []
    for _ in range(resamples):
        i = rng.integers(len(y), size=len(y))
        if 0 < y[i].sum() < len(i):
            pr.append(average_precision_score(y[i], p[i]))
            roc.append(roc_auc_score(y[i], p[i]))

    def ci(values):
        return [round(float(v), 4) for v in np.percentile(values, [2.5, 97.5])] if values else None

    return {
        "pr_auc": round(float(average_precision_score(y, p)), 4),
        "pr_auc_ci95": ci(pr),
        "roc_auc": round(float(roc_auc_score(y, p)), 4),
        "roc_auc_ci95": ci(roc),
    }


def baseline_figures(
    x_train, y_train, x_test, y_test, categorical: list[int], precision, x_val, y_val
):
    """Majority, logistic regression and gradient-boosted trees on the same features."""
    models = {
        "logistic": LogisticRegression(max_iter=500, class_weight="balanced"),
        "gradient_boosting": HistGradientBoostingClassifier(
            categorical_features=categorical or None, random_state=0
        ),
    }
    out = {
        "majority": {
            "pr_auc": round(float(y_test.mean()), 4),
            "roc_auc": 0.5,
            "recall_at_precision": 0.0,
        }
    }
    for name, model in models.items():
        model.fit(x_train, y_train)
        p = model.predict_proba(x_test)[:, 1]
        threshold = threshold_for(y_val, model.predict_proba(x_val)[:, 1], precision)
        out[name] = {
            "pr_auc": round(float(average_precision_score(y_test, p)), 4),
            "roc_auc": round(float(roc_auc_score(y_test, p)), 4),
            "recall_at_precision": at_threshold(y_test, p, threshold)["recall"],
        }
    return out


def fraud_metrics(y_val, p_val, y_test, p_test, cfg, days: float) -> dict:
    """The figures of the module docstring that need only labels and scores."""
    threshold = threshold_for(y_val, p_val, cfg.precision)
    test = at_threshold(y_test, p_test, threshold)
    return {
        **ranking(y_test, p_test, cfg.bootstrap),
        "threshold": round(threshold, 6),
        "threshold_precision_target": cfg.precision,
        "precision_at_threshold": test["precision"],
        "recall_at_precision": test["recall"],
        "alerts_per_day": round(test["alerts"] / max(days, 1e-9), 2),
        "brier": round(float(brier_score_loss(y_test, p_test)), 5),
        "positive_rate": round(float(y_test.mean()), 5),
    }


def strategy_recall(y: np.ndarray, alert: np.ndarray, strategy: np.ndarray) -> pd.DataFrame:
    """Recall at the threshold per attack strategy (fraudulent test rows only)."""
    rows = []
    for name in sorted(set(strategy[y == 1])):
        hit = (y == 1) & (strategy == name)
        rows.append({"strategy": name, "count": int(hit.sum()),
                     "recall": round(float(alert[hit].mean()), 4)})  # fmt: skip
    return pd.DataFrame(rows, columns=["strategy", "count", "recall"])
