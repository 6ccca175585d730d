"""Reproducible and resumable training: same code, params and data, same weights, whatever
runs beside; foreign state refused."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mlcycle.models.training import fingerprint, schedule
from mlcycle.stages import collect, featurize, train, validate
from tests.conftest import compose_params, run_stages_in


def weights(path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


DIGITS = [
    "task=digits",
    "collect.digits.limit=300",
    "train.max_epochs=2",
    "train.min_steps=0",
    "model.width=16",
]


@pytest.fixture(scope="module")
def digits_features(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("digits-features")
    (path / "params.yaml").write_text(compose_params(DIGITS))
    run_stages_in(path, collect, validate, featurize)
    return path


def busy_stage() -> subprocess.Popen:
    """A CPU-bound process whose command line is a stage's, as under `dvc queue start -j 2`."""
    return subprocess.Popen(
        [sys.executable, "-c", "while True: pass", "-m", "mlcycle.stages.featurize"]
    )


def train_in_a_process(features: Path, folder: Path, *overrides: str, beside=None) -> dict:
    """The weights `python -m mlcycle.stages.train` writes in a copy of `features`."""
    shutil.copytree(features, folder)
    neighbour = beside() if beside else None
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mlcycle.stages.train", *overrides],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        if neighbour:
            neighbour.kill()
            neighbour.wait()
    assert done.returncode == 0, done.stderr
    if beside:
        assert re.search(r"beside [1-9]\d* other running mlcycle stage", done.stderr), done.stderr
    return weights(folder / "models/model.ckpt")


def test_training_gives_the_same_weights_alone_and_beside_a_busy_stage(digits_features, tmp_path):
    alone = train_in_a_process(digits_features, tmp_path / "alone")
    busy = train_in_a_process(digits_features, tmp_path / "busy", beside=busy_stage)
    assert alone.keys() == busy.keys()
    assert all(torch.equal(alone[k], busy[k]) for k in alone)
    # (With the kernels held to AVX2, mlcycle.STAGE_KERNELS, this digits run gave the same
    # weights with threads=1 as with 2: the suite measured it; no assertion either way.)


def test_state_of_a_run_with_other_parameters_is_discarded(features_dir, caplog):
    """A real checkpoint of another run (other lr) must not be resumed."""
    assert train.main(["train.lr=0.02"]) == 0
    state = features_dir / "models/train_state"
    state.mkdir(parents=True)
    shutil.copyfile(features_dir / "models/model.ckpt", state / "last.ckpt")
    with caplog.at_level("INFO", logger="mlcycle"):
        assert train.main([]) == 0
    assert "discarding" in caplog.text and "resuming" not in caplog.text
    assert "epoch 0:" in caplog.text  # it started over


def test_a_checkpoint_cut_short_is_discarded(features_dir, caplog):
    state = features_dir / "models/train_state"
    state.mkdir(parents=True)
    (state / "last.ckpt").write_bytes(b"not a checkpoint")
    with caplog.at_level("INFO", logger="mlcycle"):
        assert train.main(["train.max_epochs=1"]) == 0
    assert "resuming" not in caplog.text and "discarding" in caplog.text


def test_fingerprint_changes_with_data_and_config(tmp_path):
    data = tmp_path / "train.pt"
    data.write_bytes(b"features")
    key = fingerprint([data], {"train": {"lr": 0.01}})
    assert key == fingerprint([data], {"train": {"lr": 0.01}})
    assert key != fingerprint([data], {"train": {"lr": 0.02}})
    data.write_bytes(b"other features")
    assert key != fingerprint([data], {"train": {"lr": 0.01}})


def train_cfg(**changes):
    from omegaconf import OmegaConf

    from tests.conftest import task_params

    return OmegaConf.merge(task_params().train, changes)


def test_a_small_training_set_trains_enough_steps():
    plan = schedule(310, 260, 10, train_cfg())  # 5 steps an epoch
    assert plan.max_epochs == 100 and plan.steer
    assert "training 100 epochs" in plan.notes[0] and "train.min_steps=500" in plan.notes[0]


def test_the_default_data_keeps_its_epochs():
    plan = schedule(11805, 1378, 12, train_cfg())
    assert plan.max_epochs == 7 and plan.steer and plan.notes == []


def test_a_tiny_validation_split_does_not_steer_and_says_so():
    plan = schedule(310, 26, 10, train_cfg())
    assert not plan.steer
    assert "too small to steer early stopping (26 examples, 2.6 per class" in plan.notes[-1]


def test_limit_train_batches_counts_in_the_schedule():
    assert schedule(6400, 600, 10, train_cfg(), limit_batches=10).max_epochs == 50
    # 50 steps an epoch: 10 epochs reach min_steps, more than keywords' max_epochs of 7
    assert schedule(6400, 600, 10, train_cfg(), limit_batches=0.5).max_epochs == 10


def test_train_stage_follows_the_small_data_schedule_and_says_why(features_dir, caplog):
    import json

    with caplog.at_level("INFO", logger="mlcycle"):
        assert train.main(["train.min_steps=30", "train.min_val_per_class=5"]) == 0
    metrics = json.loads((features_dir / "metrics/train.json").read_text())
    assert metrics["epochs"] == 5 and metrics["early_stopping"] is False  # 6 steps an epoch
    assert "to reach train.min_steps=30" in caplog.text
    assert "too small to steer early stopping" in caplog.text and "keeping the last" in caplog.text
