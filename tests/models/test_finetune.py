"""Fine-tuning from a package: labels by name, the package's featurizer, clear refusals,
and what it is for: a user's own small data set."""

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import soundfile as sf
import torch

from mlcycle.models.checkpoint import head
from mlcycle.models.classifier import Classifier
from mlcycle.models.finetune import FreezeFeatures, transfer
from mlcycle.models.package import load_package
from mlcycle.stages import collect, evaluate, featurize, gate, package, train, validate
from tests.conftest import KEYWORD_LABELS, ROOT, compose_params, run_as_dvc
from tests.foreign_voices import foreign_recordings

BASE = ROOT / "tests/assets/keywords_package"  # the default keywords run's package
WORDS = KEYWORD_LABELS[:10]


def test_the_asset_is_the_committed_default_package():
    card = json.loads((BASE / "card.json").read_text())
    committed = json.loads((ROOT / "metrics/eval.json").read_text())
    for metric in ("accuracy", "macro_f1", "ece"):
        assert card["metrics"][metric] == committed[metric], "refresh tests/assets (README)"


def test_transfer_keeps_shared_rows_adds_new_ones_and_drops_the_rest():
    base = load_package(BASE)
    labels = ["no", "yes", "wow", "stop"]  # a subset, reordered, and a new word
    torch.manual_seed(0)
    net, report = transfer(base, labels)
    assert report == {
        "kept": ["no", "yes", "stop"],
        "new": ["wow"],
        "dropped": [x for x in base.labels if x not in labels],
    }
    old, new = head(base.net), head(net)
    for label in report["kept"]:
        assert torch.equal(new.weight[labels.index(label)], old.weight[base.labels.index(label)])
        assert new.bias[labels.index(label)] == old.bias[base.labels.index(label)]
    body = {k: v for k, v in net.state_dict().items() if not k.startswith("head.")}
    trained = base.net.state_dict()
    assert body and all(torch.equal(v, trained[k]) for k, v in body.items())


def fit_one_epoch(freeze_epochs: int) -> tuple[dict, dict]:
    """The base package's network before and after one epoch on random clips, with
    FreezeFeatures(freeze_epochs)."""
    base = load_package(BASE)
    torch.manual_seed(0)
    net, _ = transfer(base, WORDS)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(64, *base.card["preprocessing"]["input_shape"])
    y = torch.randint(0, len(WORDS), (64,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[FreezeFeatures(net, freeze_epochs)],
    )
    model = Classifier(
        net, len(WORDS), lr=0.01, weight_decay=0.01, label_smoothing=0.0, warmup_fraction=0.1
    )
    trainer.fit(model, loader)
    classifier = {
        f"{name}.{p}"
        for name, m in net.named_modules()
        if m is head(net)
        for p in dict(m.named_parameters())
    }
    return before, net.state_dict(), classifier


def changed(before: dict, after: dict, names: set[str], classifier: bool) -> set[bool]:
    """Whether each trainable tensor of the classifier (or of the rest) changed."""
    trainable = {k for k in before if k.endswith(("weight", "bias"))}
    return {not torch.equal(before[k], after[k]) for k in trainable if (k in names) == classifier}


def test_freeze_epochs_trains_only_the_classifier_first():
    before, after, classifier = fit_one_epoch(freeze_epochs=1)
    assert classifier and changed(before, after, classifier, True) == {True}
    assert changed(before, after, classifier, False) == {False}  # features frozen
    before, after, classifier = fit_one_epoch(freeze_epochs=0)
    assert True in changed(before, after, classifier, False)  # unfrozen: they learn


@pytest.fixture(scope="session")
def recordings(tmp_path_factory):
    """A user's folder: the ten words x 40 clips, voices and formats the built-in data lacks."""
    return foreign_recordings(tmp_path_factory.mktemp("own") / "mine", WORDS, 40)


def own_project(tmp_path, recordings, words=WORDS, *overrides):
    """A project folder collecting only the user's recordings, with the base package."""
    for word in words:  # a word the package does not know gets "up" clips
        source = recordings / (word if word in WORDS else "up")
        shutil.copytree(source, tmp_path / "data/external/mine" / word)
    shutil.copytree(BASE, tmp_path / "models/base/keywords")
    labels = "[" + ",".join(words) + "]"
    (tmp_path / "params.yaml").write_text(
        compose_params(
            [
                "collect.sources=[folder]",
                "collect.folder.root=data/external/mine",
                f"task.labels={labels}",
                "train.init_from=models/base/keywords",
                *overrides,
            ]
        )
    )
    return tmp_path


def run(*stages, args=()) -> None:
    for stage in stages:
        assert run_as_dvc(stage, args) == 0, stage.__name__


def test_fine_tuning_with_a_new_word_records_where_it_came_from(recordings, tmp_path, monkeypatch):
    words = ["yes", "no", "stop", "hello"]
    own_project(tmp_path, recordings, words, "train.min_steps=20", "train.freeze_epochs=1")
    monkeypatch.chdir(tmp_path)
    run(collect, validate, featurize, train, evaluate, gate, package)
    stats = json.loads((tmp_path / "data/features/stats.json").read_text())
    base = load_package(BASE)
    assert stats["labels"] == words and stats["mean"] == base.card["preprocessing"]["mean"]
    card = json.loads((tmp_path / "models/package/card.json").read_text())
    origin = card["fine_tuned_from"]
    assert origin["version"] == base.version and origin["path"] == "models/base/keywords"
    assert origin["labels"]["new"] == ["hello"] and origin["labels"]["kept"] == words[:3]
    assert load_package(tmp_path / "models/package").labels == words


@pytest.mark.parametrize(
    "init_from,message",
    [
        ("models/base/nothing", "models/base/nothing"),
        ("models/base/broken", "corrupted"),
        ("elsewhere/keywords", "not under paths.base"),
    ],
)
def test_a_missing_damaged_or_untracked_package_stops_training_naming_it(
    recordings, tmp_path, monkeypatch, capsys, init_from, message
):
    own_project(tmp_path, recordings)
    shutil.copytree(BASE, tmp_path / "models/base/broken")
    with open(tmp_path / "models/base/broken/weights.pt", "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    shutil.copytree(BASE, tmp_path / "elsewhere/keywords")
    monkeypatch.chdir(tmp_path)
    run(collect, validate)
    assert run_as_dvc(featurize, [f"train.init_from={init_from}"]) == 2
    assert message in capsys.readouterr().err


def test_featurize_refuses_a_feature_config_other_than_the_packages(
    recordings, tmp_path, monkeypatch, capsys
):
    own_project(tmp_path, recordings)
    monkeypatch.chdir(tmp_path)
    run(collect, validate)
    assert run_as_dvc(featurize, ["featurize.audio.n_mels=64"]) == 2
    err = capsys.readouterr().err
    assert "featurize.audio.n_mels=64 (the package has 40)" in err


def test_train_refuses_a_network_config_other_than_the_packages(
    recordings, tmp_path, monkeypatch, capsys
):
    own_project(tmp_path, recordings)
    monkeypatch.chdir(tmp_path)
    run(collect, validate, featurize)
    assert run_as_dvc(train, ["model.width=32"]) == 2
    err = capsys.readouterr().err
    assert "fine-tuning keeps the package's network" in err
    assert "model.width=32 (the package has 3)" in err
    assert not (tmp_path / "models/model.ckpt").exists()


def test_non_finite_audio_is_rejected_by_validate_and_refused_by_the_package(
    recordings, tmp_path, monkeypatch
):
    project = own_project(tmp_path, recordings)
    for name, bad in (("nan", np.nan), ("inf", np.inf)):
        x = np.full(16000, 0.05, dtype=np.float32)
        x[4000] = bad
        sf.write(project / f"data/external/mine/yes/{name}.wav", x, 16000, subtype="FLOAT")
    monkeypatch.chdir(project)
    run(collect, validate)
    rejected = json.loads((project / "metrics/data.json").read_text())["rejected_by_reason"]
    assert rejected == {"non_finite": 2}
    with pytest.raises(ValueError, match="1 samples are NaN or infinite"):
        load_package(BASE).predict_proba([project / "data/external/mine/yes/nan.wav"])


@pytest.mark.slow
def test_own_small_foreign_set_zero_shot_from_scratch_and_fine_tuned(
    recordings, tmp_path, monkeypatch
):
    """The README's figures: the default package on the user's test clips as it is, a model
    trained on them from scratch, and the package fine-tuned on them (defaults throughout)."""
    results = {}
    # The README's figures are with the default schedule (MLCYCLE_DEFAULT_SCHEDULE=1, ~5 min);
    # the suite trains fewer steps, and the bounds below hold for both.
    steps = [] if os.environ.get("MLCYCLE_DEFAULT_SCHEDULE") else ["train.min_steps=250"]
    for name, overrides in (("scratch", ["train.init_from=null"]), ("fine-tuned", [])):
        overrides = [*overrides, *steps]
        project = own_project(tmp_path / name, recordings, WORDS, *overrides)
        monkeypatch.chdir(project)
        run(collect, validate, featurize, train, evaluate)
        results[name] = json.loads((project / "metrics/eval.json").read_text())
    manifest = pd.read_csv(project / "data/validated/manifest.csv")
    test = manifest[manifest["split"] == "test"]
    base = load_package(BASE)
    probs = base.predict_proba([project / p for p in test["path"]])
    zero_shot = float(np.mean([base.labels[i] for i in probs.argmax(-1)] == test["label"]))
    print(
        f"own set, {len(test)} test clips: zero-shot {zero_shot:.3f}, "
        f"from scratch {results['scratch']['accuracy']:.3f} "
        f"{results['scratch']['accuracy_ci95']}, fine-tuned "
        f"{results['fine-tuned']['accuracy']:.3f} {results['fine-tuned']['accuracy_ci95']}"
    )
    # ~66 test clips, whose 95 % interval is +-0.07. With the current default package and
    # the suite's 250 steps, two machines measured zero-shot 0.803 / 0.836 and fine-tuned
    # 0.924 / 0.895 (the clips' synthesis and the split differ a little by CPU): the bounds
    # are what both clear, and fail when fine-tuning is skipped (scratch, ~0.76) or when
    # it learns nothing (the zero-shot figure)
    assert results["fine-tuned"]["accuracy"] >= 0.85
    assert results["fine-tuned"]["accuracy"] >= zero_shot + 0.03
    # scratch varied 0.75-0.91 over runs (the split of this small set moves a few clips)
    assert results["fine-tuned"]["accuracy"] >= results["scratch"]["accuracy"]
    assert results["scratch"]["accuracy"] >= 0.5  # chance is 0.1
