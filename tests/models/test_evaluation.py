import numpy as np
from sklearn.metrics import f1_score

from mlcycle.models.evaluation import intervals, macro_f1


def test_macro_f1_is_sklearns():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y, pred = rng.integers(0, 6, 50), rng.integers(0, 6, 50)
        expected = f1_score(y, pred, labels=list(range(7)), average="macro", zero_division=0)
        assert abs(macro_f1(y, pred, 7) - expected) < 1e-12


def test_intervals_hold_the_estimate_and_narrow_with_more_test_data():
    rng = np.random.default_rng(1)
    widths = []
    for n in (60, 1200):
        y = rng.integers(0, 10, n)
        pred = np.where(rng.random(n) < 0.9, y, (y + 1) % 10)
        ci = intervals(y, pred, 10)
        accuracy = float((y == pred).mean())
        assert ci["accuracy_ci95"][0] < accuracy < ci["accuracy_ci95"][1]
        assert ci["macro_f1_ci95"][0] < macro_f1(y, pred, 10) < ci["macro_f1_ci95"][1]
        widths.append(ci["accuracy_ci95"][1] - ci["accuracy_ci95"][0])
    assert widths[1] < widths[0] / 3


def test_wilson_interval_of_a_known_case():
    y = np.zeros(64, dtype=int)
    pred = np.r_[np.zeros(62, dtype=int), np.ones(2, dtype=int)]  # 62 of 64 right
    low, high = intervals(y, pred, 2)["accuracy_ci95"]
    assert (low, high) == (0.893, 0.9914)
