"""Distributed training with Lightning: the trainer config group, rank-zero writes, and
mixed precision where a GPU is present."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mlcycle.stages import collect, evaluate, featurize, validate
from tests.conftest import compose_params

pytestmark = pytest.mark.slow
# The digits task: a small CNN that learns in a few epochs on the CPU.
DIGITS = [
    "task=digits",
    "train.max_epochs=5",
    "train.patience=5",
    "train.min_steps=0",
    "model.width=8",
    "evaluate.latency_runs=5",
]


@pytest.fixture
def digits_features(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(compose_params(DIGITS))
    for stage in (collect, validate, featurize):
        assert stage.main([]) == 0
    return tmp_path


def run_train(cwd: Path, *overrides: str) -> str:
    """The train stage as its own process (DDP starts the others from its command line)."""
    done = subprocess.run(
        [sys.executable, "-m", "mlcycle.stages.train", *overrides],
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_ddp_cpu_trains_with_two_processes_a_model_like_one_process(
    digits_features, tmp_path_factory, monkeypatch
):
    features_dir = digits_features
    single = tmp_path_factory.mktemp("single")
    shutil.copytree(features_dir, single, dirs_exist_ok=True)
    run_train(single)
    # the trainer config group's ddp_cpu, as `dvc exp run -S trainer=ddp_cpu` composes it
    (features_dir / "params.yaml").write_text(compose_params([*DIGITS, "trainer=ddp_cpu"]))
    # two processes of 32 make the single process's batches of 64
    log = run_train(features_dir, "train.batch_size=32")
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in log, log
    accuracy = {}
    for name, folder in (("single", single), ("ddp", features_dir)):
        trained = json.loads((folder / "metrics/train.json").read_text())
        assert trained["processes"] == (2 if name == "ddp" else 1)
        assert not (folder / "models/train_state").exists()  # rank zero cleaned up
        monkeypatch.chdir(folder)
        assert evaluate.main([]) == 0
        accuracy[name] = json.loads((folder / "metrics/eval.json").read_text())["accuracy"]
    assert accuracy["single"] > 0.7, accuracy  # it learnt, so the comparison means something
    assert abs(accuracy["ddp"] - accuracy["single"]) <= 0.08, accuracy
    # one writer: one line per logged step in DVCLive's curves, not two
    steps = (features_dir / "plots/train/plots/metrics/train/loss.tsv").read_text()
    single_steps = (single / "plots/train/plots/metrics/train/loss.tsv").read_text()
    assert len(steps.splitlines()) == len(single_steps.splitlines())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here)")
def test_mixed_precision_on_the_gpu(digits_features):
    run_train(digits_features, "trainer.precision=bf16-mixed")
    trained = json.loads((digits_features / "metrics/train.json").read_text())
    assert trained["device"] == "cuda" and trained["best_val_acc"] > 0.7
