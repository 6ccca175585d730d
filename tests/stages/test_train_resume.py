"""Kill training mid-run, run the stage again: it resumes and ends where an uninterrupted
run ends."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from mlcycle.features.store import load_split
from mlcycle.stages import evaluate, train

pytestmark = pytest.mark.slow
EPOCHS = ["train.max_epochs=6", "train.patience=10"]


def last_epoch(path) -> int:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)["epoch"]
    except Exception:
        return -1


@pytest.mark.xfail(
    strict=True,
    reason="known gap: from the first epoch after the resume point the losses differ in the "
    "4th digit (the data order is the same: ShardShuffle's epoch is right), so the weights "
    "match only when the best epoch came before the interruption; this test passed on "
    "that luck until the collection changed",
)
def test_interrupted_training_resumes_and_matches(features_dir, caplog):
    assert train.main(EPOCHS) == 0 and evaluate.main([]) == 0
    uninterrupted = json.loads((features_dir / "metrics/eval.json").read_text())
    weights = torch.load(features_dir / "models/model.ckpt", weights_only=True)["state_dict"]
    (features_dir / "models/model.ckpt").unlink()

    proc = subprocess.Popen(
        [sys.executable, "-m", "mlcycle.stages.train", *EPOCHS],
        cwd=features_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    last = features_dir / "models/train_state/last.ckpt"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and last_epoch(last) < 2:
        time.sleep(0.2)
    assert proc.poll() is None, "training finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stopped_at = last_epoch(last)
    assert 2 <= stopped_at < 5 and not (features_dir / "models/model.ckpt").exists()

    caplog.clear()
    with caplog.at_level("INFO", logger="mlcycle"):
        assert train.main(EPOCHS) == 0
    assert "resuming the interrupted run" in caplog.text
    assert "epoch 0:" not in caplog.text  # it continued; it did not start over
    assert not (features_dir / "models/train_state").exists()
    trained = json.loads((features_dir / "metrics/train.json").read_text())
    n_train = len(load_split(features_dir / "data/features", "train"))
    epochs_after_resume = trained["epochs"] - (stopped_at + 1)
    seen = trained["train_samples_per_s"] * trained["train_seconds"]  # both rounded to 0.1
    assert 0.85 < seen / (n_train * epochs_after_resume) < 1.15  # throughput of this run only
    assert evaluate.main([]) == 0
    resumed = json.loads((features_dir / "metrics/eval.json").read_text())
    # where an uninterrupted run ends: the same weights, so the same scores
    again = torch.load(features_dir / "models/model.ckpt", weights_only=True)["state_dict"]
    assert again.keys() == weights.keys()
    assert all(torch.equal(again[k], weights[k]) for k in weights)
    for metric in ("accuracy", "macro_f1", "ece", "per_class"):
        assert resumed[metric] == uninterrupted[metric], metric
