"""The user's own data: a folder of <label>/<file>, or a CSV manifest of path,label[,group].

Files are copied into the collection (data/raw) so that each run is a versioned snapshot;
the user's files are only read, never modified.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable
from pathlib import Path

import pandas as pd


class SourceError(ValueError):
    """A source cannot be collected; the message names the folder, file, row or label."""


def _content_group(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _copy(src: Path, dest_root: Path, rel: Path) -> str:
    (dest_root / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest_root / rel)
    return rel.as_posix()


def collect_folder(root: str | Path, labels: Iterable[str], dest: Path) -> pd.DataFrame:
    """Copy <root>/<label>/** into dest/<label>/; one row per file (group = content hash)."""
    root, labels = Path(root), set(labels)
    if not root.is_dir():
        raise SourceError(f"collect.folder.root: folder not found: {root}")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [p.name for p in folders if p.name not in labels]
    if unknown:
        raise SourceError(
            f"{root}: sub-folder(s) {unknown} are not labels of this task "
            f"(task.labels = {sorted(labels)})"
        )
    rows = []
    for folder in folders:
        for src in sorted(p for p in folder.rglob("*") if p.is_file()):
            if src.name.startswith("."):
                continue
            name = src.relative_to(folder).as_posix().replace("/", "_")
            rel = _copy(src, dest, Path(folder.name) / f"folder_{name}")
            rows.append(
                {
                    "path": rel,
                    "label": folder.name,
                    "group": _content_group(src),
                    "source": "folder",
                    "problem": "",
                }
            )
    if not rows:
        raise SourceError(f"{root}: no files under any <label>/ sub-folder")
    return pd.DataFrame(rows)


def collect_manifest(csv: str | Path, labels: Iterable[str], dest: Path) -> pd.DataFrame:
    """Copy the files a path,label[,group] CSV lists; paths outside its folder are not read."""
    csv, labels = Path(csv), set(labels)
    if not csv.is_file():
        raise SourceError(f"collect.manifest.csv: file not found: {csv}")
    table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    missing = {"path", "label"} - set(table.columns)
    if missing:
        raise SourceError(f"{csv}: missing column(s) {sorted(missing)}; needs path,label[,group]")
    if table.empty:
        raise SourceError(f"{csv}: no rows")
    base = csv.parent.resolve()
    rows = []
    for i, row in enumerate(table.to_dict("records"), start=2):  # line 1 is the header
        label = row["label"].strip()
        if label not in labels:
            raise SourceError(
                f"{csv} line {i}: label {label!r} is not in task.labels {sorted(labels)}"
            )
        src = (base / row["path"]).resolve()
        rel = Path(label) / f"manifest_{i:06d}_{Path(row['path']).name}"
        record = {"path": rel.as_posix(), "label": label, "source": "manifest", "problem": ""}
        if not src.is_relative_to(base):
            record["problem"] = f"outside_root: {row['path']} is outside {base}, not read"
        elif not src.is_file():
            record["problem"] = f"missing: {row['path']} not found"
        else:
            _copy(src, dest, rel)
        group = (row.get("group") or "").strip()
        record["group"] = group or (_content_group(src) if not record["problem"] else rel.name)
        rows.append(record)
    return pd.DataFrame(rows)
