"""The digits task and the user's own data through the real stages (no DVC)."""

import json

import numpy as np
import pandas as pd
from PIL import Image

from mlcycle.stages import collect, evaluate, featurize, train, validate
from tests.conftest import IMAGE_DEFECT_REASONS, compose_params, run_as_dvc

DIGITS_SMALL = [
    "task=digits",
    "collect.digits.limit=400",
    "train.max_epochs=2",
    "train.min_steps=0",
    "model.width=8",
    "evaluate.latency_runs=5",
    "collect.defect_fraction=0.02",
]


def run_all():
    for stage in (collect, validate, featurize, train, evaluate):
        assert run_as_dvc(stage) == 0, stage.__name__


def test_digits_pipeline_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(compose_params(DIGITS_SMALL))
    run_all()
    raw = pd.read_csv("data/raw/manifest.csv", keep_default_na=False)
    assert len(raw) == 400 and set(raw["mode"]) == {"L", "RGB"}
    assert raw["width"].nunique() > 1
    rejected = pd.read_csv("data/validated/rejected.csv")
    assert len(rejected) == 8  # 2% of 400, each with the reason its defect calls for
    reasons = dict(zip(rejected["path"], rejected["reason"]))
    defective = raw[raw["defect"] != ""]
    assert len(defective) == 8 and set(defective["defect"]) == set(IMAGE_DEFECT_REASONS)
    for row in defective.itertuples():
        assert reasons["data/raw/" + row.path] == IMAGE_DEFECT_REASONS[row.defect], row.path
    assert json.loads(open("data/features/stats.json").read())["input_shape"] == [1, 16, 16]
    metrics = json.loads(open("metrics/eval.json").read())
    assert len(metrics["per_class"]) == 10 and metrics["test_examples"] > 0
    for name in (
        "README.md",
        "class_balance.csv",
        "hist/brightness.csv",
        "hist/width.csv",
        "rejected_by_reason.csv",
    ):
        assert (tmp_path / "reports/data" / name).is_file(), name


def user_images(root, per_label=12):
    """A user's folder of digits in many formats: palette PNG, RGBA PNG, CMYK JPEG..."""
    from sklearn.datasets import load_digits

    data = load_digits()
    formats = [("P", "png"), ("RGBA", "png"), ("CMYK", "jpg"), ("L", "bmp"), ("RGB", "webp")]
    for label in range(10):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        picks = np.flatnonzero(data.target == label)[:per_label]
        for k, i in enumerate(picks):
            gray = Image.fromarray((255 - data.images[i] * 15).astype(np.uint8)).resize((24, 24))
            mode, ext = formats[k % len(formats)]
            gray.convert(mode).save(root / str(label) / f"d{i}.{ext}")


def test_own_folder_of_images_runs_through_the_pipeline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    user_images(tmp_path / "data/external/mine")
    (tmp_path / "data/external/mine/3/notes.wav").write_bytes(b"RIFF")
    overrides = DIGITS_SMALL + [
        "collect.sources=[digits,folder]",
        "collect.folder.root=data/external/mine",
    ]
    (tmp_path / "params.yaml").write_text(compose_params(overrides))
    run_all()
    raw = pd.read_csv("data/raw/manifest.csv", keep_default_na=False)
    assert set(raw["source"]) == {"digits", "folder"}
    assert (raw["source"] == "folder").sum() == 121
    rejected = pd.read_csv("data/validated/rejected.csv")
    assert "wrong_modality" in set(rejected["reason"])
    valid = pd.read_csv("data/validated/manifest.csv")
    assert (valid["source"] == "folder").sum() == 120  # every format decoded


def test_failed_collect_leaves_the_previous_collection_untouched(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(compose_params(DIGITS_SMALL))
    assert collect.main([]) == 0
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "data/raw").rglob("*")}
    assert (
        collect.main(["collect.sources=[digits,folder]", "collect.folder.root=data/nowhere"]) == 2
    )
    assert "data/nowhere" in capsys.readouterr().err
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "data/raw").rglob("*")}
    assert before == after


def group_in(split: str, prefix: str) -> str:
    from mlcycle.data.splits import split_of

    return next(g for g in (f"{prefix}{i}" for i in range(1000)) if split_of(g, 0.1, 0.15) == split)


def test_class_only_in_test_split_stops_validate(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    user_images(tmp_path / "mine", per_label=3)
    rows = ["path,label,group"]
    for p in sorted((tmp_path / "mine").rglob("*.*")):
        label = p.parent.name
        split = "test" if label == "7" else "train"
        rows.append(f"{p.relative_to(tmp_path / 'mine')},{label},{group_in(split, label)}")
    (tmp_path / "mine/list.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "params.yaml").write_text(
        compose_params(
            [
                "task=digits",
                "collect.sources=[manifest]",
                "collect.manifest.csv=mine/list.csv",
                "validate.min_per_class=0",
                "collect.defect_fraction=0",
            ]
        )
    )
    assert collect.main([]) == 0
    assert validate.main([]) == 2
    assert "class '7' is in the test split but has no training files" in capsys.readouterr().err


def test_audio_source_in_image_task_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(compose_params(["task=digits"]))
    assert collect.main(["collect.sources=[keywords]"]) == 2
    assert "keywords" in capsys.readouterr().err
