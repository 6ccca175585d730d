"""Logged inputs back into the pipeline: as a `folder` or `manifest` source for collect."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlcycle.atomic import write_csv_atomic, write_with
from mlcycle.monitor.kept_inputs import KeptReader, is_kept, name_of


def kept(log: pd.DataFrame) -> pd.DataFrame:
    """Served requests whose input the server kept (one row per request, no shadow runs)."""
    rows = log[(log["route"] != "shadow") & log["input_file"].notna()]
    rows = rows[[is_kept(ref) for ref in rows["input_file"]]]
    return rows.drop_duplicates("request_id")


def export_labelled(log: pd.DataFrame, labels_csv: Path, out: Path, fmt: str) -> int:
    """Copy the inputs a person labelled (CSV: request_id,label) into `out` as a source.

    folder: <out>/<label>/<request_id>.<ext>; manifest: <out>/<request_id>.<ext> and
    <out>/manifest.csv (path,label). ValueError names a bad line of the CSV.
    """
    if fmt not in ("folder", "manifest"):
        raise ValueError(f"export format {fmt!r}: choose folder or manifest")
    if not labels_csv.is_file():
        raise FileNotFoundError(f"labels file not found: {labels_csv}")
    labels = pd.read_csv(labels_csv, dtype=str, keep_default_na=False)
    if missing := {"request_id", "label"} - set(labels.columns):
        raise ValueError(f"{labels_csv}: missing column(s) {sorted(missing)}")
    inputs = kept(log).set_index("request_id")["input_file"]
    rows = []
    with KeptReader() as reader:
        pairs = zip(labels["request_id"], labels["label"])
        for line, (request_id, label) in enumerate(pairs, 2):
            if not label.strip():
                continue  # not labelled (yet)
            if request_id not in inputs.index:
                raise ValueError(
                    f"{labels_csv} line {line}: no kept input for request {request_id}"
                )
            name = name_of(inputs[request_id])
            rel = Path(label) / name if fmt == "folder" else Path(name)
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            data = reader.read(inputs[request_id])
            write_with(out / rel, lambda tmp, data=data: tmp.write_bytes(data))
            rows.append({"path": rel.as_posix(), "label": label})
    if fmt == "manifest":
        write_csv_atomic(out / "manifest.csv", pd.DataFrame(rows, columns=["path", "label"]))
    return len(rows)


def sample_for_labelling(log: pd.DataFrame, n: int, out: Path) -> int:
    """<out>/to_label.csv: `n` kept inputs, least confident first, with an empty label
    column for a person to fill (then: export --labels); the inputs themselves are
    unpacked into <out>/inputs/ for the person to listen to or look at."""
    rows = kept(log).sort_values("confidence", na_position="first").head(n)
    files = []
    with KeptReader() as reader:
        for ref in rows["input_file"]:
            path = out / "inputs" / name_of(ref)
            path.parent.mkdir(parents=True, exist_ok=True)
            data = reader.read(ref)
            write_with(path, lambda tmp, data=data: tmp.write_bytes(data))
            files.append(str(path))
    table = pd.DataFrame(
        {
            "request_id": rows["request_id"],
            "input_file": files,
            "predicted": rows["label"],
            "confidence": rows["confidence"],
            "label": "",
        }
    )
    write_csv_atomic(out / "to_label.csv", table)
    return len(table)
