"""The package: what serving loads. It must predict exactly what evaluate measured."""

import json
import shutil

import pandas as pd
import pytest
import torch

from mlcycle.models.onnx_runtime import TOLERANCE
from mlcycle.models.package import PackageError, load_package, seal
from mlcycle.threads import torch_threads
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


def copy_of(packaged, tmp_path):
    folder = tmp_path / "package"
    shutil.copytree(packaged[1] / "models/package", folder)
    return folder, json.loads((folder / "card.json").read_text())


def test_a_card_edited_after_packaging_is_refused(packaged, tmp_path):
    folder, card = copy_of(packaged, tmp_path)
    card["metrics"]["accuracy"] = 0.999  # weights untouched: their checksum still matches
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(PackageError, match=r"card.json was changed after packaging"):
        load_package(folder)


def test_an_edited_reference_profile_is_refused(packaged, tmp_path):
    folder, _ = copy_of(packaged, tmp_path)
    reference = json.loads((folder / "reference.json").read_text())
    reference["note"] = "edited"
    (folder / "reference.json").write_text(json.dumps(reference))
    with pytest.raises(PackageError, match=r"reference.json does not match"):
        load_package(folder)


@pytest.mark.parametrize(
    "network",
    [
        # a nested object Hydra would build (and call) while building the network
        lambda victim, model: {
            **model,
            "dropout": {
                "_target_": "shutil.copyfile",
                "src": str(victim),
                "dst": str(victim) + ".copy",
            },
        },
        # a target that is not a network at all
        lambda victim, model: {
            "_target_": "shutil.copyfile",
            "src": str(victim),
            "dst": str(victim) + ".copy",
        },
    ],
    ids=["nested_target", "foreign_target"],
)
def test_loading_a_package_never_runs_code_named_in_its_card(packaged, tmp_path, network):
    """Even a card sealed again after the edit (the hash is a checksum, not a signature)."""
    folder, card = copy_of(packaged, tmp_path)
    victim = tmp_path / "secret.txt"
    victim.write_text("mine")
    card["network"]["model"] = network(victim, card["network"]["model"])
    (folder / "card.json").write_text(json.dumps(seal(folder, card)))
    with pytest.raises(PackageError, match=r"card.json: network"):
        load_package(folder)
    assert not (tmp_path / "secret.txt.copy").exists()


def test_the_onnx_export_gives_the_torch_probabilities_on_the_whole_test_split(packaged):
    """What serving runs by default (network.onnx under ONNX Runtime) answers as the torch
    network does, within 1e-4 in every class probability, on every test input."""
    task, path = packaged
    predictions = pd.read_csv(path / "reports/predictions.csv", dtype={"label": str})
    files = [path / p for p in predictions["path"]]
    onnx, eager = (
        load_package(path / "models/package"),
        load_package(path / "models/package", "torch"),
    )
    assert (path / "models/package/network.onnx").is_file() and onnx.runtime is not None
    assert eager.runtime is None
    for threads in (1, 2):  # one session per thread count
        with torch_threads(threads):
            difference = (onnx.predict_proba(files) - eager.predict_proba(files)).abs().max()
        assert float(difference) <= TOLERANCE, (task, threads, float(difference))


def test_an_edited_or_missing_onnx_export_is_refused_naming_the_file(packaged, tmp_path):
    folder, _ = copy_of(packaged, tmp_path)
    data = bytearray((folder / "network.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "network.onnx").write_bytes(bytes(data))
    with pytest.raises(PackageError, match=r"network.onnx does not match the onnx_sha256"):
        load_package(folder)
    (folder / "network.onnx").unlink()  # the card still says there was one
    with pytest.raises(PackageError, match=r"network.onnx does not match the onnx_sha256"):
        load_package(folder, "torch")


def test_sealing_new_weights_drops_the_export_of_the_old_ones(packaged, tmp_path):
    """A package whose weights are changed on purpose (and sealed again) must not serve the
    old weights' ONNX export: it is deleted, and the torch network answers."""
    folder, card = copy_of(packaged, tmp_path)
    weights = torch.load(folder / "weights.pt", weights_only=True)
    torch.save({k: v * 0.5 for k, v in weights.items()}, folder / "weights.pt")
    (folder / "card.json").write_text(json.dumps(seal(folder, card)))
    package = load_package(folder)
    assert package.runtime is None and not (folder / "network.onnx").exists()
    assert "onnx_sha256" not in json.loads((folder / "card.json").read_text())


def test_an_export_that_does_not_give_torchs_answers_is_not_used(packaged, monkeypatch):
    """Checked before use: an export of other weights is refused, and torch runs."""
    import mlcycle.models.onnx_runtime as onnx_runtime

    package = load_package(packaged[1] / "models/package", "torch")
    other = load_package(packaged[1] / "models/package", "torch").net
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(0.5)
    real_export = onnx_runtime.export
    monkeypatch.setattr(onnx_runtime, "export", lambda net, example: real_export(other, example))
    example = package.featurizer([package.featurizer.decode(f) for f in files_of(packaged, 4)])
    assert package.use_onnx(example) is False and package.runtime is None
    monkeypatch.setattr(onnx_runtime, "export", real_export)
    assert package.use_onnx(example) is True and package.runtime is not None


def files_of(packaged, n):
    predictions = pd.read_csv(packaged[1] / "reports/predictions.csv")
    return [packaged[1] / p for p in predictions["path"][:n]]
