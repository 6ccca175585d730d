import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from mlcycle.features.store import load_split
from mlcycle.stages import featurize, train


@pytest.fixture
def trained(trained_dir):
    return trained_dir


def test_features_per_split_and_stats(trained):
    stats = json.loads((trained / "data/features/stats.json").read_text())
    assert stats["input_shape"] == [1, 40, 51] and len(stats["mean"]) == 40  # 20 ms frames
    manifest = pd.read_csv(trained / "data/validated/manifest.csv")
    train_set = load_split(trained / "data/features", "train")
    assert len(train_set) == (manifest["split"] == "train").sum()
    assert sorted(train_set.paths) == sorted(manifest[manifest["split"] == "train"]["path"])
    x = torch.cat(list(train_set.batches()))
    assert abs(float(x.mean())) < 0.05  # normalised with training statistics
    assert abs(float(x.std()) - 1) < 0.05


def test_featurize_again_writes_the_same_bytes(trained, collected, tmp_path, monkeypatch):
    """What DVC hashes: identical features must not look changed and retrain everything."""
    shutil.copytree(collected, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    assert featurize.main([]) == 0
    written = sorted(p.relative_to(trained) for p in (trained / "data/features").rglob("*.*"))
    assert len(written) >= 7  # stats + each split's index and shard(s)
    for name in written:
        assert (tmp_path / name).read_bytes() == (trained / name).read_bytes(), name


def test_train_writes_checkpoint_metrics_and_curves(trained):
    metrics = json.loads((trained / "metrics/train.json").read_text())
    # Lightning's accelerator="auto": the GPU where there is one
    assert metrics["epochs"] == 2
    assert metrics["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert 0.0 <= metrics["best_val_acc"] <= 1.0
    curve = pd.read_csv(trained / "plots/train/plots/metrics/val/acc.tsv", sep="\t")
    assert list(curve.columns) == ["step", "acc"] and len(curve) == 2
    assert (trained / "models/model.ckpt").is_file()
    assert not (trained / "models/train_state").exists()  # only an interrupted run keeps it


def test_evaluate_writes_metrics_confusion_and_errors(trained):
    m = json.loads((trained / "metrics/eval.json").read_text())
    assert set(m) >= {
        "accuracy",
        "macro_f1",
        "per_class",
        "latency_p95_ms",
        "latency_cpu_p95_ms",
        "params",
        "model_size_mb",
        "ece",
        "confused_pairs",
        "worst_slice",
    }
    assert len(m["per_class"]) == 12 and m["latency_p95_ms"] >= m["latency_p50_ms"] > 0
    # the voices no model trained on (collect.pico.held_out_voices), scored apart
    low, high = m["held_out_accuracy_ci95"]
    assert 0 <= low <= m["held_out_accuracy"] <= high <= 1
    assert m["held_out_examples"] > 0 and set(m["held_out_per_voice"]) == {"en-GB"}
    assert m["latency_cpu_p95_ms"] >= m["latency_cpu_p50_ms"] > 0
    confusion = pd.read_csv(trained / "plots/confusion.csv")
    assert len(confusion) == m["test_examples"]
    assert abs((confusion.actual == confusion.predicted).mean() - m["accuracy"]) < 1e-3
    wrong = pd.read_csv(trained / "reports/misclassified.csv")
    assert len(wrong) == (confusion.actual != confusion.predicted).sum()
    assert (wrong["label"] != wrong["predicted"]).all()
    predictions = pd.read_csv(trained / "reports/predictions.csv")
    probs = predictions[[c for c in predictions if c.startswith("p_")]]
    assert len(predictions) == m["test_examples"] and probs.shape[1] == 12
    assert ((probs.sum(axis=1) - 1).abs() < 1e-4).all()
    assert list(predictions["predicted"]) == list(confusion["predicted"])


def test_train_without_features_names_the_missing_file(small_workdir, capsys):
    assert train.main([]) == 2
    assert "data/features" in capsys.readouterr().err


def test_a_file_damaged_after_validation_stops_featurize_by_name(
    collected, tmp_path, monkeypatch, capsys
):
    shutil.copytree(collected, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    manifest = pd.read_csv(tmp_path / "data/validated/manifest.csv")
    victim = manifest[manifest["split"] == "val"]["path"].iloc[3]
    (tmp_path / victim).write_bytes(b"RIFF\x00\x00\x00\x00WAVE garbage")
    assert featurize.main([]) == 2
    err = capsys.readouterr().err
    assert "featurize val: cannot decode" in err and victim in err
    assert not (tmp_path / "data/features/val/index.json").exists()


def test_evaluate_writes_slices_reliability_and_worst_slices(trained):
    """The error-analysis files hold what the predictions say, recomputed here by hand."""
    m = json.loads((trained / "metrics/eval.json").read_text())
    predictions = pd.read_csv(trained / "reports/predictions.csv")
    manifest = pd.read_csv(trained / "data/validated/manifest.csv")
    frame = predictions.merge(manifest[["path", "accent", "snr_db"]], on="path")
    assert len(frame) == m["test_examples"]

    slices = pd.read_csv(trained / "reports/slices.csv", keep_default_na=False)
    assert set(slices["slice"]) >= {"accent", "variant_family", "snr_bucket"}
    assert (slices["count"] >= 5).all()  # evaluate.min_slice_count
    assert list(slices["accuracy"]) == sorted(slices["accuracy"])  # worst first
    for accent, group in frame.groupby("accent"):
        row = slices[(slices["slice"] == "accent") & (slices["value"] == accent)]
        if len(group) >= 5:
            assert row["count"].item() == len(group)
            assert row["accuracy"].item() == pytest.approx(group["correct"].mean(), abs=1e-4)
    worst = slices.iloc[0]
    assert m["worst_slice"]["accuracy"] == worst["accuracy"]

    reliability = pd.read_csv(trained / "plots/reliability.csv")
    assert reliability["count"].sum() == len(frame)
    bins = np.clip(np.digitize(frame["confidence"], np.linspace(0, 1, 16)[1:-1]), 0, 14)
    by_bin = frame.groupby(bins)
    assert reliability["count"].tolist() == by_bin.size().tolist()
    assert reliability["accuracy"].tolist() == pytest.approx(
        by_bin["correct"].mean().tolist(), abs=1e-4
    )
    ece = sum(
        len(g) / len(frame) * abs(g["correct"].mean() - g["confidence"].mean()) for _, g in by_bin
    )
    assert m["ece"] == pytest.approx(ece, abs=2e-3)  # from 4-decimal confidences

    page = (trained / "reports/worst_slices.md").read_text()
    table_rows = [line for line in page.splitlines() if line.startswith(f"| {worst['slice']} |")]
    assert table_rows[0] == (
        f"| {worst['slice']} | {worst['value']} | {worst['count']} | {worst['accuracy']:.3f} |"
    )
    examples = re.findall(r"^- `([^`]+)`: (\S+) predicted as (\S+) ", page, re.M)
    wrong = set(zip(frame["path"], frame["label"], frame["predicted"])) - set(
        zip(frame["path"], frame["label"], frame["label"])
    )
    assert examples and set(examples) <= wrong  # every example shown is a real mistake
