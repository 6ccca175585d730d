"""Drift of a statistic against the reference, with the field's methods and defaults.

As Evidently chooses them: numeric statistics with the two-sample Kolmogorov-Smirnov test
(p < 0.05) while both samples hold at most 1,000 values, above that the Wasserstein
distance normed by the reference's standard deviation (>= 0.1); categorical ones with the
chi-square test (p < 0.05) on small samples, the Jensen-Shannon distance (>= 0.1) on large
ones (the chi-square test of homogeneity: both samples are samples). The population
stability index (PSI, ten reference-quantile bins) is reported for
numeric statistics with its usual bands: < 0.1 stable, 0.1-0.25 moderate, >= 0.25 major.
The dataset drifts when at least `share` of its statistics do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

SMALL = 1000  # samples up to this size get a statistical test, larger ones a distance
P_VALUE, DISTANCE = 0.05, 0.1
PSI_BANDS = (0.1, 0.25)


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index over the reference's quantile bins (no library has it)."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if len(edges) > 2:  # the quantile bins, the outer ones open-ended
        edges = np.concatenate([[-np.inf], edges[1:-1], [np.inf]])
    else:  # a (nearly) constant reference: below it, at it, above it
        edges = np.array([-np.inf, edges[0] - 1e-9, edges[-1] + 1e-9, np.inf])
    ref = np.histogram(reference, edges)[0] / len(reference)
    cur = np.histogram(current, edges)[0] / len(current)
    ref, cur = np.clip(ref, 1e-4, None), np.clip(cur, 1e-4, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def psi_band(value: float) -> str:
    return "stable" if value < PSI_BANDS[0] else "moderate" if value < PSI_BANDS[1] else "major"


def numeric_drift(reference: Sequence[float], current: Sequence[float]) -> dict[str, Any]:
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if len(ref) == 0 or len(cur) == 0:
        return {"method": None, "drift": None, "n": len(cur), "why": "no values"}
    index = psi(ref, cur)
    result: dict[str, Any] = {"n": len(cur), "psi": round(index, 4), "psi_band": psi_band(index)}
    if len(ref) <= SMALL and len(cur) <= SMALL:
        p = float(ks_2samp(ref, cur).pvalue)
        return {**result, "method": "ks", "p_value": round(p, 6), "drift": p < P_VALUE}
    scale = float(np.std(ref)) or 1.0
    distance = float(wasserstein_distance(ref, cur)) / scale
    return {
        **result,
        "method": "wasserstein",
        "distance": round(distance, 4),
        "drift": distance >= DISTANCE,
    }


def category(value: Any) -> str:
    """One spelling per category: 16000, 16000.0 and "16000" are the same sample rate."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def categorical_drift(reference: Sequence[Any], current: Sequence[Any]) -> dict[str, Any]:
    ref = [category(v) for v in reference if v is not None and v == v]
    cur = [category(v) for v in current if v is not None and v == v]
    if not ref or not cur:
        return {"method": None, "drift": None, "n": len(cur), "why": "no values"}
    categories = sorted(set(ref) | set(cur))
    ref_counts = np.array([ref.count(c) for c in categories], dtype=float)
    cur_counts = np.array([cur.count(c) for c in categories], dtype=float)
    if len(ref) <= SMALL and len(cur) <= SMALL:
        if len(categories) < 2:
            return {"method": "chi2", "p_value": 1.0, "drift": False, "n": len(cur)}
        # both samples are samples: the test of homogeneity, not goodness of fit against
        # the reference's shares taken as exact (which fires on a small reference's noise)
        p = float(chi2_contingency(np.stack([ref_counts, cur_counts])).pvalue)
        return {"method": "chi2", "p_value": round(p, 6), "drift": p < P_VALUE, "n": len(cur)}
    distance = float(jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()))
    return {
        "method": "jensenshannon",
        "distance": round(distance, 4),
        "drift": distance >= DISTANCE,
        "n": len(cur),
    }


def dataset_drift(results: dict[str, dict[str, Any]], share: float = 0.5) -> dict[str, Any]:
    """The share of statistics that drifted, and whether it reaches `share`."""
    judged = [r["drift"] for r in results.values() if r.get("drift") is not None]
    drifted = sum(judged)
    fraction = drifted / len(judged) if judged else 0.0
    return {
        "drifted": drifted,
        "statistics": len(judged),
        "share": round(fraction, 4),
        "drift": bool(judged) and fraction >= share,
    }
