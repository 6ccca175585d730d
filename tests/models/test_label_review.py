"""Wrong labels found, reviewed and corrected through the pipeline; baselines to beat."""

import json
import shutil

import pandas as pd
import pytest

from mlcycle.scope import check_targets
from mlcycle.stages import collect, evaluate, featurize, review, train, validate
from tests.conftest import LEARNT, MIN_ACCURACY, compose_params, run_as_dvc

NOISY = [*LEARNT["digits"], "collect.label_noise=0.05"]


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """The digits pipeline with 5 % of the labels flipped, up to the review."""
    path = tmp_path_factory.mktemp("noisy")
    (path / "params.yaml").write_text(compose_params(NOISY))
    import os

    old = os.getcwd()
    os.chdir(path)
    try:
        for stage in (collect, validate, featurize, train, review, evaluate):
            assert run_as_dvc(stage) == 0, stage.__name__
    finally:
        os.chdir(old)
    return path


def flipped(folder) -> set[str]:
    manifest = pd.read_csv(folder / "data/validated/manifest.csv", dtype=str, keep_default_na=False)
    reviewed = manifest[manifest["split"].isin(["train", "val"])]
    return set(reviewed.loc[reviewed["label"] != reviewed["true_label"], "path"])


def test_collect_flips_the_configured_share_and_keeps_the_truth(noisy):
    raw = pd.read_csv(noisy / "data/raw/manifest.csv", dtype=str, keep_default_na=False)
    changed = raw[raw["label"] != raw["true_label"]]
    assert len(changed) == round((raw["defect"] == "").sum() * 0.05)
    assert (changed["defect"] == "").all()


def test_the_review_ranks_the_flipped_labels_first(noisy):
    table = pd.read_csv(noisy / "reports/label_review/label_review.csv", dtype=str)
    wrong = flipped(noisy)
    top = set(table["path"].head(len(wrong)))
    assert len(top & wrong) >= 0.7 * len(wrong), f"{len(top & wrong)} of {len(wrong)}"
    truth = pd.read_csv(noisy / "data/validated/manifest.csv", dtype=str, keep_default_na=False)
    truth = truth.set_index("path")["true_label"]
    hits = table.head(len(wrong))
    hits = hits[hits["path"].isin(wrong)]
    suggested_right = (hits["suggested_label"] == truth[hits["path"]].to_numpy()).mean()
    assert suggested_right >= 0.8  # and it says what the label should be


def test_the_review_page_shows_the_candidates_offline(noisy):
    page = (noisy / "reports/label_review/index.html").read_text()
    assert page.count("<img") == 100 and "data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page


def test_corrections_relabel_and_drop_through_collect(noisy, tmp_path, monkeypatch):
    shutil.copytree(noisy, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    table = pd.read_csv("reports/label_review/label_review.csv", dtype=str)
    top = table.head(20)
    decisions = pd.DataFrame({"path": top["path"], "label": top["suggested_label"]})
    decisions.loc[decisions.index[-1], "label"] = "drop"
    (tmp_path / "data/labels").mkdir(parents=True, exist_ok=True)
    decisions.to_csv("data/labels/corrections.csv", index=False)
    assert run_as_dvc(collect) == 0
    raw = pd.read_csv("data/raw/manifest.csv", dtype=str, keep_default_na=False)
    by_path = raw.set_index("path")["label"]
    for path, label in zip(decisions["path"][:-1], decisions["label"][:-1]):
        assert by_path[path.removeprefix("data/raw/")] == label
    assert decisions["path"].iloc[-1].removeprefix("data/raw/") not in by_path.index
    assert not (tmp_path / decisions["path"].iloc[-1]).exists()


@pytest.mark.parametrize(
    "line,message",
    [
        ("data/raw/3/nowhere.png,3", "line 2: no collected file 'data/raw/3/nowhere.png'"),
        ("{path},eleven", "line 2: label 'eleven' is neither 'drop' nor one of task.labels"),
    ],
)
def test_a_bad_correction_stops_collect_naming_the_line(
    noisy, tmp_path, monkeypatch, capsys, line, message
):
    shutil.copytree(noisy, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    path = pd.read_csv("data/raw/manifest.csv", dtype=str)["path"].iloc[0]
    before = (tmp_path / "data/raw/manifest.csv").read_bytes()
    (tmp_path / "data/labels").mkdir(parents=True, exist_ok=True)
    (tmp_path / "data/labels/corrections.csv").write_text(f"path,label\n{line.format(path=path)}\n")
    assert run_as_dvc(collect) == 2
    assert message in capsys.readouterr().err
    assert (tmp_path / "data/raw/manifest.csv").read_bytes() == before  # nothing lost


@pytest.mark.parametrize("task", ["keywords", "digits"])
def test_baselines_are_reported_and_beaten(task, learnt):
    metrics = json.loads((learnt(task) / "metrics/eval.json").read_text())
    majority, logistic = metrics["baseline"]["majority"], metrics["baseline"]["logistic"]
    assert 0 < majority["accuracy"] < logistic["accuracy"] <= 1
    assert majority["accuracy"] < 0.25  # one class of 10 or 12
    assert metrics["accuracy"] >= MIN_ACCURACY[task]
    gain = metrics["gain_over_baseline"]["majority"]
    assert gain == round(metrics["accuracy"] - majority["accuracy"], 4)


def test_a_target_relative_to_the_baseline():
    metrics = {"accuracy": 0.9, "baseline": {"majority": {"accuracy": 0.1}, "b": {"accuracy": 0.6}}}
    check = check_targets(metrics, {"accuracy": {"min_gain": 0.2}})[0]
    assert check["target"] == ">= baseline 0.6 + 0.2" and check["passed"]
    low = check_targets({**metrics, "accuracy": 0.7}, {"accuracy": {"min_gain": 0.2}})[0]
    assert low["verdict"] == "fail"
    with pytest.raises(KeyError, match="baseline"):
        check_targets({"accuracy": 0.9}, {"accuracy": {"min_gain": 0.1}})
