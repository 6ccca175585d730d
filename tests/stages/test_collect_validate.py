import json

import pandas as pd
import pytest

from mlcycle.data.splits import split_of
from mlcycle.stages import collect, validate
from tests.conftest import DEFECT_REASONS, KEYWORD_LABELS, SMALL, compose_params


def test_every_collected_file_ends_in_exactly_one_manifest(collected):
    raw = pd.read_csv(collected / "data/raw/manifest.csv")
    valid = pd.read_csv(collected / "data/validated/manifest.csv")
    rejected = pd.read_csv(collected / "data/validated/rejected.csv")
    paths = ["data/raw/" + p for p in raw["path"]]
    assert sorted(paths) == sorted(list(valid["path"]) + list(rejected["path"]))
    assert set(valid["path"]).isdisjoint(rejected["path"])


def test_injected_defects_are_rejected_with_their_reason(collected):
    raw = pd.read_csv(collected / "data/raw/manifest.csv", keep_default_na=False)
    rejected = pd.read_csv(collected / "data/validated/rejected.csv")
    defective = raw[raw["defect"] != ""]
    assert len(defective) == round(len(raw) * 0.03)
    reasons = dict(zip(rejected["path"], rejected["reason"]))
    for row in defective.itertuples():
        assert reasons["data/raw/" + row.path] == DEFECT_REASONS[row.defect]


def test_no_speaker_is_in_two_splits(collected):
    valid = pd.read_csv(collected / "data/validated/manifest.csv")
    assert (valid.groupby("group")["split"].nunique() == 1).all()
    assert set(valid["split"]) == {"train", "val", "test", "held_out"}


def test_held_out_voices_are_never_in_train_val_or_test(collected):
    """collect.pico.held_out_voices land in the held_out split only, with their labels
    true; the training voices of both synthesisers are split by speaker as usual."""
    valid = pd.read_csv(collected / "data/validated/manifest.csv")
    params = json.loads((collected / "metrics/data.json").read_text())
    held = valid[valid["split"] == "held_out"]
    assert set(held["engine"]) == {"pico"} and set(held["accent"]) == {"en-GB"}
    others = valid[valid["split"] != "held_out"]
    assert (held["held_out"] == 1).all() and not (others["held_out"] == 1).any()
    trained = valid[valid["split"] == "train"]
    assert set(trained["engine"]) == {"espeak", "pico"}
    assert "en-GB" not in set(trained.loc[trained["engine"] == "pico", "accent"])
    assert params["split_sizes"]["held_out"] == len(held) > 0
    # augmentations touched training speakers only
    assert (held["speed"].fillna(1.0) == 1.0).all()
    assert (held["channel"].fillna("clean") == "clean").all()
    assert (valid.loc[valid["split"] == "train", "speed"].fillna(1.0) != 1.0).any()


def test_split_of_a_group_never_changes_as_data_grows(collected, tmp_path, monkeypatch):
    """The collection grown by half (60 speakers instead of 40), collected and validated
    anew: every speaker and file of the first collection keeps its split."""
    monkeypatch.chdir(tmp_path)
    grown = [*SMALL, "collect.keywords.speakers=60"]
    (tmp_path / "params.yaml").write_text(compose_params(grown))
    assert collect.main([]) == 0 and validate.main([]) == 0
    before = pd.read_csv(collected / "data/validated/manifest.csv")
    after = pd.read_csv(tmp_path / "data/validated/manifest.csv")
    assert after["group"].nunique() > before["group"].nunique()  # it grew
    groups_before = before.groupby("group")["split"].first()
    groups_after = after.groupby("group")["split"].first()
    assert groups_after[groups_before.index].tolist() == groups_before.tolist()
    same = before.merge(after, on="path", suffixes=("_before", "_after"))
    assert len(same) > 0.9 * len(before)
    assert (same["split_before"] == same["split_after"]).all()
    counts = after["split"].value_counts()
    assert set(counts.index) == {"train", "val", "test", "held_out"}


def test_split_fractions_follow_the_config():
    counts = pd.Series([split_of(f"spk{i:04d}", 0.1, 0.15) for i in range(2000)]).value_counts()
    assert 0.12 < counts["test"] / 2000 < 0.18 and 0.07 < counts["val"] / 2000 < 0.13


def test_data_metrics_count_classes_and_rejections(collected):
    metrics = json.loads((collected / "metrics/data.json").read_text())
    speakers = 40 + 10 + 4  # eSpeak's, Pico's training and held-out speakers (SMALL)
    assert metrics["valid"] + metrics["rejected"] == metrics["collected"] == speakers * 13
    assert sum(metrics["rejected_by_reason"].values()) == metrics["rejected"]
    assert set(metrics["per_class"]["train"]) == set(KEYWORD_LABELS)


def test_collect_is_deterministic(collected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(compose_params(SMALL))
    assert collect.main([]) == 0
    ours = (tmp_path / "data/raw/manifest.csv").read_text()
    assert ours == (collected / "data/raw/manifest.csv").read_text()
    some = pd.read_csv(tmp_path / "data/raw/manifest.csv")["path"][5]
    assert (tmp_path / "data/raw" / some).read_bytes() == (
        collected / "data/raw" / some
    ).read_bytes()


def test_fails_when_rejected_fraction_crosses_limit(collected, monkeypatch, capsys):
    monkeypatch.chdir(collected)
    assert validate.main(["validate.max_rejected_fraction=0.01"]) == 2
    err = capsys.readouterr().err
    assert "validate.max_rejected_fraction" in err and "rejected" in err


def test_fails_when_a_class_has_too_few_training_files(collected, monkeypatch, capsys):
    monkeypatch.chdir(collected)
    assert validate.main(["validate.min_per_class=1000"]) == 2
    assert "fewer than validate.min_per_class=1000" in capsys.readouterr().err


def test_duplicate_content_with_conflicting_labels_is_rejected(collected, tmp_path, monkeypatch):
    import shutil

    shutil.copytree(collected / "data", tmp_path / "data")
    shutil.copy(collected / "params.yaml", tmp_path)
    monkeypatch.chdir(tmp_path)
    raw = pd.read_csv("data/raw/manifest.csv", keep_default_na=False)
    good = raw[raw["defect"] == ""]
    yes, no = good[good.label == "yes"].iloc[0], good[good.label == "no"].iloc[0]
    shutil.copy(f"data/raw/{yes.path}", f"data/raw/{no.path}")  # same audio, label 'no'
    assert validate.main(["validate.max_rejected_fraction=1.0"]) == 0
    rejected = pd.read_csv("data/validated/rejected.csv")
    hits = rejected[rejected["reason"] == "duplicate_conflict"]
    assert set(hits["path"]) == {f"data/raw/{yes.path}", f"data/raw/{no.path}"}


def test_bad_manifest_column_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(compose_params(SMALL))
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/raw/manifest.csv").write_text(
        "path,label,group,source,colour\na.wav,yes,s1,mine,red\n"
    )
    assert validate.main([]) == 2
    assert "colour" in capsys.readouterr().err


@pytest.mark.parametrize("missing", ["data/raw/manifest.csv"])
def test_missing_raw_manifest_is_a_clear_error(tmp_path, monkeypatch, capsys, missing):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(compose_params(SMALL))
    assert validate.main([]) == 2
    assert missing in capsys.readouterr().err
