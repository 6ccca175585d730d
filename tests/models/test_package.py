"""The package: what serving loads. It must predict exactly what evaluate measured."""

import json
import shutil

import pandas as pd
import pytest
import torch

from mlcycle.models.package import PackageError, load_package
from tests.conftest import MIN_ACCURACY


@pytest.fixture(scope="module", params=["keywords", "digits"])
def packaged(request, learnt):
    return request.param, learnt(request.param)


def test_package_gives_the_probabilities_evaluate_measured(packaged):
    task, path = packaged
    metrics = json.loads((path / "metrics/eval.json").read_text())
    predictions = pd.read_csv(
        path / "reports/predictions.csv", dtype={"label": str, "predicted": str}
    )
    assert metrics["accuracy"] >= MIN_ACCURACY[task]
    assert predictions["predicted"].nunique() >= len(set(predictions["label"])) // 2
    pkg = load_package(path / "models/package")
    probs = pkg.predict_proba([path / p for p in predictions["path"]])
    measured = torch.tensor(predictions[[f"p_{label}" for label in pkg.labels]].to_numpy())
    assert torch.allclose(probs.double(), measured, atol=1e-4)
    assert [pkg.labels[i] for i in probs.argmax(-1).tolist()] == list(predictions["predicted"])


def test_model_card_describes_the_model(packaged):
    task, path = packaged
    card = json.loads((path / "models/package/card.json").read_text())
    stats = json.loads((path / "data/features/stats.json").read_text())
    assert card["task"] == task and card["labels"] == stats["labels"]
    assert card["preprocessing"] == stats
    expected = "DSCNN" if task == "keywords" else "SmallCNN"
    assert card["network"]["model"]["_target_"].endswith(expected)
    assert card["metrics"] == json.loads((path / "metrics/eval.json").read_text())
    assert card["gate"] == json.loads((path / "metrics/gate.json").read_text())
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
    shutil.copytree(packaged[1] / "models/package", folder)
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
