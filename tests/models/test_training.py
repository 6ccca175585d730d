"""Reproducible and resumable training: same command, same weights; foreign state refused."""

import shutil
import subprocess
import sys

import torch

from mlcycle.models.training import fingerprint
from mlcycle.stages import train


def weights(path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_training_twice_in_separate_processes_gives_identical_weights(features_dir):
    runs = []
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-m", "mlcycle.stages.train"],
            cwd=features_dir,
            check=True,
            capture_output=True,
        )
        runs.append(weights(features_dir / "models/model.ckpt"))
    first, second = runs
    assert first.keys() == second.keys() and len(first) > 10
    assert all(torch.equal(first[k], second[k]) for k in first)


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
