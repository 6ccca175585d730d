import json
import shutil

import pytest

from mlcycle.models.package import PackageError, load_package
from mlcycle.scope import check_targets
from mlcycle.stages import gate, package
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


@pytest.fixture(scope="module")
def packaged(trained_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("packaged")
    shutil.copytree(trained_dir, path, dirs_exist_ok=True)
    run_stages_in(path, gate, package)
    return path


def test_gate_records_each_check_and_the_verdict(packaged):
    result = json.loads((packaged / "metrics/gate.json").read_text())
    metrics = json.loads((packaged / "metrics/eval.json").read_text())
    assert {c["metric"] for c in result["checks"]} >= {"accuracy", "latency_p95_ms"}
    accuracy = next(c for c in result["checks"] if c["metric"] == "accuracy")
    assert accuracy["measured"] == metrics["accuracy"]
    assert result["passed"] == all(c["passed"] for c in result["checks"])


def test_package_reproduces_evaluate_predictions(packaged):
    import pandas as pd

    pkg = load_package(packaged / "models/package")
    confusion = pd.read_csv(packaged / "plots/confusion.csv")
    import torch

    test = torch.load(packaged / "data/features/test.pt", weights_only=True)
    probs = pkg.predict_proba([packaged / p for p in test["path"]])
    predicted = [pkg.labels[i] for i in probs.argmax(-1).tolist()]
    assert predicted == list(confusion["predicted"])


def test_model_card_describes_the_model(packaged):
    card = json.loads((packaged / "models/package/card.json").read_text())
    assert card["task"] == "keywords" and len(card["labels"]) == 12
    assert card["network"]["model"]["_target_"].endswith("DSCNN")
    assert card["preprocessing"]["audio"]["sample_rate"] == 16000
    assert "accuracy" in card["metrics"] and "passed" in card["gate"]
    assert set(card) >= {"git_revision", "data", "weights_sha256"}


@pytest.mark.parametrize(
    "damage,message",
    [
        ("drop_weights", "weights.pt is missing"),
        ("flip_byte", "corrupted"),
        ("bad_json", "not valid JSON"),
        ("drop_key", "lacks ['labels']"),
    ],
)
def test_damaged_package_fails_to_load_with_a_clear_error(packaged, tmp_path, damage, message):
    folder = tmp_path / "package"
    shutil.copytree(packaged / "models/package", folder)
    if damage == "drop_weights":
        (folder / "weights.pt").unlink()
    elif damage == "flip_byte":
        data = bytearray((folder / "weights.pt").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (folder / "weights.pt").write_bytes(bytes(data))
    elif damage == "bad_json":
        (folder / "card.json").write_text("{not json")
    else:
        card = json.loads((folder / "card.json").read_text())
        del card["labels"]
        (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(PackageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_package(folder)
