import json
import shutil

import pytest

from mlcycle.scope import check_targets
from mlcycle.stages import gate
from tests.conftest import run_stages_in

METRICS = {"accuracy": 0.96, "macro_f1": 0.94, "latency_p95_ms": 3.0, "model_size_mb": 0.2}


def test_targets_are_checked_each_with_its_bound():
    checks = check_targets(
        METRICS,
        {
            "accuracy": {"min": 0.95},
            "macro_f1": {"min": 0.95},
            "latency_p95_ms": {"max": 10, "min": None},
        },
    )
    assert [(c["metric"], c["passed"]) for c in checks] == [
        ("accuracy", True),
        ("macro_f1", False),
        ("latency_p95_ms", True),
    ]
    assert checks[1]["target"] == ">= 0.95" and checks[1]["measured"] == 0.94


def test_unknown_metric_in_scope_is_named():
    with pytest.raises(KeyError, match="recall"):
        check_targets(METRICS, {"recall": {"min": 0.5}})


def test_gate_records_each_check_and_the_verdict(trained_dir, tmp_path):
    shutil.copytree(trained_dir, tmp_path, dirs_exist_ok=True)
    run_stages_in(tmp_path, gate)
    result = json.loads((tmp_path / "metrics/gate.json").read_text())
    metrics = json.loads((tmp_path / "metrics/eval.json").read_text())
    assert {c["metric"] for c in result["checks"]} >= {"accuracy", "latency_cpu_p95_ms"}
    accuracy = next(c for c in result["checks"] if c["metric"] == "accuracy")
    assert accuracy["measured"] == metrics["accuracy"]
    assert result["passed"] == all(c["passed"] for c in result["checks"])
    # the tiny test model is far from the keywords scope's 0.95
    assert result["passed"] is False and accuracy["passed"] is False


def test_a_target_inside_the_interval_is_undecided_not_passed():
    metrics = {"accuracy": 0.969, "accuracy_ci95": [0.893, 0.991], "model_size_mb": 0.2}
    checks = check_targets(metrics, {"accuracy": {"min": 0.95}, "model_size_mb": {"max": 1.0}})
    accuracy, size = checks
    assert accuracy["verdict"] == "undecided" and accuracy["passed"] is False
    assert accuracy["interval"] == [0.893, 0.991]
    assert size["verdict"] == "pass" and size["interval"] is None


def test_an_interval_clear_of_the_target_decides():
    sure = {"accuracy": 0.967, "accuracy_ci95": [0.956, 0.976]}
    assert check_targets(sure, {"accuracy": {"min": 0.95}})[0]["verdict"] == "pass"
    low = {"accuracy": 0.90, "accuracy_ci95": [0.88, 0.92]}
    assert check_targets(low, {"accuracy": {"min": 0.95}})[0]["verdict"] == "fail"


def test_an_undecided_target_says_how_many_examples_would_decide_it():
    """The issue's case: 0.983 on 60 test clips, [0.911, 0.997] straddles 0.95; about
    168 clips at that accuracy would clear it (Wilson's interval, as evaluate's)."""
    from mlcycle.scope import examples_to_decide, wilson

    low, high = wilson(0.983, 60)
    assert (round(low, 3), round(high, 3)) == (0.911, 0.997)
    metrics = {"accuracy": 0.983, "accuracy_ci95": [0.911, 0.997]}
    (check,) = check_targets(metrics, {"accuracy": {"min": 0.95}})
    needed = check["examples_to_decide"]
    assert check["verdict"] == "undecided" and needed == examples_to_decide(0.983, 0.95)
    assert wilson(0.983, needed)[0] >= 0.95 > wilson(0.983, needed - 1)[0]
    assert examples_to_decide(0.95, 0.95) is None  # on the target: no test set decides
    decided = check_targets(
        {"accuracy": 0.99, "accuracy_ci95": [0.98, 0.995]}, {"accuracy": {"min": 0.95}}
    )
    assert decided[0]["examples_to_decide"] is None


def test_a_held_out_target_without_held_out_voices_is_not_measured_not_an_error():
    """A user's own data alone has no held_out split: the keywords scope's target on it is
    recorded as not measured and does not fail the gate; any other missing metric is an
    error naming it."""
    metrics = {"accuracy": 0.99, "accuracy_ci95": [0.98, 0.995]}
    targets = {"accuracy": {"min": 0.95}, "held_out_accuracy": {"min": 0.85}}
    accuracy, held_out = check_targets(metrics, targets)
    assert accuracy["verdict"] == "pass"
    assert held_out["verdict"] == "not_measured" and held_out["passed"] is True
    with pytest.raises(KeyError, match="macro_f1"):
        check_targets(metrics, {"macro_f1": {"min": 0.9}})
