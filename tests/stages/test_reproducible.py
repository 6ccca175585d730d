"""Same code, params and data give the same weights, whatever else runs on the machine."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mlcycle.stages import collect, featurize, validate
from tests.conftest import compose_params, run_stages_in

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
    return torch.load(folder / "models/model.ckpt", map_location="cpu", weights_only=True)[
        "state_dict"
    ]


def test_training_gives_the_same_weights_alone_and_beside_a_busy_stage(digits_features, tmp_path):
    alone = train_in_a_process(digits_features, tmp_path / "alone")
    busy = train_in_a_process(digits_features, tmp_path / "busy", beside=busy_stage)
    assert alone.keys() == busy.keys()
    assert all(torch.equal(alone[k], busy[k]) for k in alone)
    # what the `threads` param pins is what decides them: another count, other weights
    other = train_in_a_process(digits_features, tmp_path / "one-thread", "threads=1")
    assert not all(torch.equal(alone[k], other[k]) for k in alone)
