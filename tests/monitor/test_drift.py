import numpy as np

from mlcycle.monitor.drift import categorical_drift, dataset_drift, numeric_drift, psi, psi_band


def test_same_distribution_does_not_drift_and_a_shift_does_small_samples():
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 1, 800)
    same = numeric_drift(ref, rng.normal(0, 1, 300))
    assert same["method"] == "ks" and same["drift"] is False and same["psi_band"] == "stable"
    moved = numeric_drift(ref, rng.normal(0.8, 1, 300))
    assert moved["drift"] is True and moved["p_value"] < 0.05 and moved["psi_band"] != "stable"


def test_large_samples_use_the_normed_wasserstein_distance():
    rng = np.random.default_rng(1)
    ref = rng.normal(10, 2, 5000)
    assert numeric_drift(ref, rng.normal(10, 2, 3000))["drift"] is False
    moved = numeric_drift(ref, rng.normal(11, 2, 3000))  # half a standard deviation
    assert moved["method"] == "wasserstein" and moved["distance"] > 0.4 and moved["drift"]


def test_categories_chi_square_small_jensen_shannon_large():
    ref = ["a"] * 500 + ["b"] * 500
    assert categorical_drift(ref, ["a"] * 50 + ["b"] * 50)["drift"] is False
    skewed = categorical_drift(ref, ["a"] * 90 + ["b"] * 10)
    assert skewed["method"] == "chi2" and skewed["drift"] is True
    big = categorical_drift(ref * 3, ["a"] * 1500 + ["b"] * 1500 + ["c"] * 900)
    assert big["method"] == "jensenshannon" and big["drift"] is True


def test_psi_bands():
    rng = np.random.default_rng(2)
    ref = rng.normal(0, 1, 10000)
    assert psi_band(psi(ref, rng.normal(0, 1, 10000))) == "stable"
    assert psi_band(psi(ref, rng.normal(1, 1, 10000))) == "major"


def test_dataset_drift_is_the_share_of_drifted_statistics():
    results = {"a": {"drift": True}, "b": {"drift": False}, "c": {"drift": None}}
    assert dataset_drift(results, 0.5) == {
        "drifted": 1,
        "statistics": 2,
        "share": 0.5,
        "drift": True,
    }
    assert dataset_drift({}, 0.5)["drift"] is False
