"""Precision and recall estimated before the labels arrive: confidence-based performance
estimation (CBPE, as NannyML does it), on calibrated scores.

A table package's reference profile holds the model's validation scores with their true
labels. An isotonic regression from score to P(positive | score), fitted on them, turns
each served score s into c(s), the chance that its row is positive. While that relation
holds (the inputs may drift; how score relates to label must not), a window of answers
has an expected confusion matrix:

    expected true positives   sum of c over the flagged answers (score >= threshold)
    estimated precision       mean of c over the flagged answers
    estimated recall          sum of c over the flagged answers / sum of c over all

What it cannot see is the relation itself changing: attackers switching to a strategy the
model scores low. Their rows still lower the estimate (their scores are higher than
legitimate ones', so they add to the expected positives left unflagged), but by less than
the realised recall falls; `mlcycle monitor labels` measures that once labels arrive
(tests/serve/test_labels.py measures both, calm and after a switch).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression


class Estimator:
    """CBPE for one package: fitted on its validation scores and labels."""

    def __init__(self, scores: Any, truth: Any, threshold: float) -> None:
        scores, truth = np.asarray(scores, float), np.asarray(truth, float)
        self.threshold = float(threshold)
        self.calibration = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        self.calibration.fit(scores, truth)
        flagged = scores >= self.threshold
        positives = truth == 1
        self.reference_recall = float(flagged[positives].mean()) if positives.any() else None

    @classmethod
    def of(cls, reference: dict[str, Any] | None) -> Estimator | None:
        """The estimator of a reference profile; None where it holds no scored labels of
        both classes (files' packages, or a validation split of one class)."""
        outputs = (reference or {}).get("outputs", {})
        truth = outputs.get("truth")
        if not truth or "threshold" not in outputs or len(set(truth)) < 2:
            return None
        return cls(outputs["scores"], truth, outputs["threshold"])

    def estimate(self, scores: Any) -> dict[str, float | None]:
        """Estimated precision and recall of answers with these scores (None if undefined)."""
        scores = np.asarray(scores, float)
        scores = scores[np.isfinite(scores)]
        chance = self.calibration.predict(scores) if len(scores) else scores
        flagged = scores >= self.threshold
        expected = float(chance.sum())
        return {
            "estimated_precision": round(float(chance[flagged].mean()), 4)
            if flagged.any()
            else None,
            "estimated_recall": round(float(chance[flagged].sum()) / expected, 4)
            if expected > 0
            else None,
        }
