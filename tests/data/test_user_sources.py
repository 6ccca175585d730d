import numpy as np
import pytest

from mlcycle.data.audio_io import write_wav
from mlcycle.data.user_sources import SourceError, collect_folder, collect_manifest

LABELS = ["yes", "no"]


def clip(path, freq=440.0, sr=16000):
    t = np.arange(sr) / sr
    write_wav(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "mine"
    for label, freq in (("yes", 300.0), ("no", 500.0)):
        (root / label).mkdir(parents=True)
        clip(root / label / "a.wav", freq)
        clip(root / label / "b.wav", freq * 1.5)
    return root


def test_folder_is_copied_with_labels_and_content_groups(folder, tmp_path):
    before = {p: p.read_bytes() for p in folder.rglob("*.wav")}
    rows = collect_folder(folder, LABELS, tmp_path / "raw")
    assert sorted(rows["label"]) == ["no", "no", "yes", "yes"]
    assert set(rows["source"]) == {"folder"} and rows["group"].nunique() == 4
    for rel in rows["path"]:
        assert (tmp_path / "raw" / rel).is_file()
    assert {p: p.read_bytes() for p in folder.rglob("*.wav")} == before  # never modified


def test_missing_folder_names_it(tmp_path):
    with pytest.raises(SourceError, match="folder not found: .*nowhere"):
        collect_folder(tmp_path / "nowhere", LABELS, tmp_path / "raw")


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "empty" / "yes").mkdir(parents=True)
    with pytest.raises(SourceError, match="no files"):
        collect_folder(tmp_path / "empty", LABELS, tmp_path / "raw")


def test_folder_with_an_unknown_label_names_it(folder, tmp_path):
    (folder / "maybe").mkdir()
    with pytest.raises(SourceError, match="maybe"):
        collect_folder(folder, LABELS, tmp_path / "raw")


def test_manifest_resolves_relative_paths_and_keeps_groups(folder, tmp_path):
    csv = folder / "list.csv"
    csv.write_text("path,label,group\nyes/a.wav,yes,alice\nno/a.wav,no,bob\n")
    rows = collect_manifest(csv, LABELS, tmp_path / "raw")
    assert list(rows["group"]) == ["alice", "bob"] and (rows["problem"] == "").all()
    assert (tmp_path / "raw" / rows["path"][0]).read_bytes() == (folder / "yes/a.wav").read_bytes()


def test_manifest_path_outside_its_folder_is_rejected_not_read(folder, tmp_path):
    secret = tmp_path / "secret.wav"
    clip(secret)
    csv = folder / "list.csv"
    csv.write_text(f"path,label\n../secret.wav,yes\n{secret},no\nyes/a.wav,yes\n")
    rows = collect_manifest(csv, LABELS, tmp_path / "raw")
    assert rows["problem"][0].startswith("outside_root") and rows["problem"][1].startswith(
        "outside_root"
    )
    assert not (tmp_path / "raw" / rows["path"][0]).exists()
    assert rows["problem"][2] == ""


def test_manifest_unknown_label_names_the_line(folder, tmp_path):
    csv = folder / "list.csv"
    csv.write_text("path,label\nyes/a.wav,yes\nno/a.wav,nope\n")
    with pytest.raises(SourceError, match="line 3: label 'nope'"):
        collect_manifest(csv, LABELS, tmp_path / "raw")


def test_manifest_without_label_column_is_an_error(folder, tmp_path):
    csv = folder / "list.csv"
    csv.write_text("file,class\nyes/a.wav,yes\n")
    with pytest.raises(SourceError, match=r"missing column\(s\) \['label', 'path'\]"):
        collect_manifest(csv, LABELS, tmp_path / "raw")
