"""collect for table tasks: the sources' rows, typed, into <paths.raw>/rows.parquet.

Sources (collect.sources): the built-in `transactions` (mlcycle.modalities.table.
transactions) and the user's own `table` (collect.table.path, a CSV or Parquet file, under
paths.external so that `dvc add` / `dvc import-url` version it). A file that does not hold
what task.table declares (a missing column, a value of another type, an unknown label, no
rows) stops collect with the column and the line; the previous collection is untouched.
Built-in rows get collect.defect_fraction of defects a real feed has (negative amounts,
missing values where none may be, unknown categories, repeated ids) for validate to reject.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from mlcycle.modalities.table import chunks as table_chunks
from mlcycle.modalities.table.chunks import RowWriter, arrow_schema, chunks
from mlcycle.modalities.table.columns import ROWS, TableError, TableSpec, typed
from mlcycle.modalities.table.transactions import generate_chunks

log = logging.getLogger("mlcycle")
DEFECTS = ("out_of_range", "missing_value", "unknown_category", "duplicate")


def read_user_table(path: str | Path) -> tuple[Iterator[pd.DataFrame], bool]:
    """The user's CSV (as strings) or Parquet file (its own types), a chunk of rows at a
    time, each indexed by its rows' positions in the file; (chunks, is_csv)."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"collect.table.path: file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise TableError(f"collect.table.path: {path} is neither .csv nor .parquet")

    def read() -> Iterator[pd.DataFrame]:
        try:
            if suffix == ".csv":
                yield from pd.read_csv(
                    path,
                    dtype=str,
                    keep_default_na=False,
                    na_values=[""],
                    chunksize=table_chunks.CHUNK_ROWS,
                )
            else:
                yield from chunks(path)
        except (ValueError, OSError, pd.errors.ParserError) as e:
            raise TableError(f"{path}: cannot read it: {e}") from None

    return read(), suffix == ".csv"


def source_chunks(params: DictConfig, spec: TableSpec, labels: list[str]) -> Iterator:
    """Every source's rows, typed, with `source` and `defect` columns, a chunk at a time
    (TableError as soon as a chunk holds what task.table does not declare)."""
    if not params.collect.sources:
        raise TableError("collect.sources is empty")
    for name in params.collect.sources:
        if name not in ("transactions", "table"):
            raise TableError(
                f"unknown source {name!r} for a table task; choose from ['table', 'transactions']"
            )
    for name in params.collect.sources:
        if name == "transactions":
            cfg = params.collect.transactions
            if cfg is None:
                raise TableError("collect.sources has 'transactions' but it is not configured")
            for i, frame in enumerate(generate_chunks(cfg, params.seed)):
                rows = typed(frame, spec, labels, "transactions", lines=False)
                rows = inject_defects(rows, spec, params.collect.defect_fraction, params.seed, i)
                yield rows.assign(source=name)
        else:
            if params.collect.table is None:
                raise TableError("collect.sources has 'table' but collect.table is not set")
            where = str(params.collect.table.path)
            parts, is_csv = read_user_table(params.collect.table.path)
            read = 0
            for frame in parts:
                if frame.empty:
                    continue
                read += len(frame)
                rows = typed(frame, spec, labels, where, lines=is_csv)
                yield rows.assign(defect="", source=name)
            if not read:
                raise TableError(f"{where}: the table has no rows")


def inject_defects(rows: pd.DataFrame, spec: TableSpec, fraction: float, seed: int, chunk: int = 0):
    """Spoil `fraction` of the rows (chunk `chunk` of a source), one defect each, as a
    real feed is spoilt."""
    rows = rows.assign(defect="")
    rng = np.random.default_rng([seed, 99, chunk])
    count = int(round(len(rows) * fraction))
    if not count:
        return rows
    chosen = rng.choice(len(rows), size=count, replace=False)
    bounded = [c for c in spec.numeric if c.min is not None]
    required = [c for c in spec.columns if not c.nullable]
    closed = [c for c in spec.categorical if c.categories]
    for i, kind in zip(chosen, rng.choice(DEFECTS, size=count)):
        row = rows.index[i]
        if kind == "out_of_range" and bounded:
            c = bounded[int(rng.integers(len(bounded)))]
            rows.at[row, c.name] = c.min - 1.0 - float(rng.random()) * 100
        elif kind == "missing_value" and required:
            rows.at[row, required[int(rng.integers(len(required)))].name] = None
        elif kind == "unknown_category" and closed:
            rows.at[row, closed[int(rng.integers(len(closed)))].name] = "??"
        elif kind == "duplicate" and row > 0:
            rows.at[row, spec.id_column] = rows.at[row - 1, spec.id_column]
        else:
            continue
        rows.at[row, "defect"] = kind
    return rows


def read_corrections(path: Path, spec: TableSpec, labels: list[str]) -> dict[str, tuple]:
    """A person's label decisions for rows ({id: (label or 'drop', line)}): a CSV of
    `id,label` (or the table's own id column, or `path` as the review page lists rows);
    TableError names a bad line. No file: no corrections."""
    if not path.is_file():
        return {}
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    key = next((k for k in (spec.id_column, "id", "path") if k in table.columns), None)
    if key is None or "label" not in table.columns:
        raise TableError(
            f"{path}: a table's corrections need columns {spec.id_column!r} (or 'id') and "
            f"'label'; it has {list(table.columns)}"
        )
    decided: dict[str, tuple] = {}
    for line, (row_id, label) in enumerate(zip(table[key], table["label"]), start=2):
        label = label.strip()
        if label != "drop" and label not in labels:
            raise TableError(
                f"{path} line {line}: label {label!r} is neither 'drop' nor one of "
                f"task.labels {labels}"
            )
        decided[row_id.strip()] = (label, line)
    return decided


def correct(rows: pd.DataFrame, spec: TableSpec, decided: dict, seen: set) -> tuple:
    """The chunk relabelled and without its dropped rows, as a person decided; (rows,
    relabelled, dropped); the ids found are added to `seen`."""
    if not decided:
        return rows, 0, 0
    hits = rows[spec.id_column].isin(decided.keys())
    if not hits.any():
        return rows, 0, 0
    seen.update(rows.loc[hits, spec.id_column])
    verdict = rows.loc[hits, spec.id_column].map(lambda i: decided[i][0])
    drop = verdict.index[verdict == "drop"]
    relabel = verdict[verdict != "drop"]
    changed = int((rows.loc[relabel.index, spec.label_column] != relabel).sum())
    rows = rows.copy()
    rows.loc[relabel.index, spec.label_column] = relabel
    return rows.drop(index=drop), changed, len(drop)


def collect_table(params: DictConfig, out: Path) -> dict[str, Any]:
    """Write the collection to out/rows.parquet (the folder replaced whole, atomically),
    a chunk of rows at a time; its counts: rows, defects, per label."""
    spec = TableSpec.from_config(params.task.table)
    labels = list(params.task.labels)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    counts: dict[str, Any] = {"rows": 0, "defects": 0, "labels": {}}
    corrections = Path(params.paths.corrections)
    decided, seen = read_corrections(corrections, spec, labels), set()
    counts.update(relabelled=0, dropped=0)
    try:
        with RowWriter(staging / ROWS, arrow_schema(spec, ("source", "defect"))) as writer:
            for rows in source_chunks(params, spec, labels):
                rows, relabelled, dropped = correct(rows, spec, decided, seen)
                counts["relabelled"] += relabelled
                counts["dropped"] += dropped
                writer.write(rows)
                counts["rows"] += len(rows)
                counts["defects"] += int((rows["defect"] != "").sum())
                for label, n in rows[spec.label_column].value_counts().items():
                    counts["labels"][label] = counts["labels"].get(label, 0) + int(n)
            unknown = [(line, i) for i, (_, line) in decided.items() if i not in seen]
            if unknown:
                line, row_id = min(unknown)
                raise TableError(f"{corrections} line {line}: no collected row {row_id!r}")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return counts


def collect(params: DictConfig) -> None:
    counts = collect_table(params, Path(params.paths.raw))
    log.info(
        "collected %d rows into %s from %s (%d defective on purpose): %s",
        counts["rows"],
        Path(params.paths.raw) / ROWS,
        list(params.collect.sources),
        counts["defects"],
        counts["labels"],
    )
    if counts["relabelled"] or counts["dropped"]:
        log.info(
            "labels: %d rows relabelled and %d dropped by %s",
            counts["relabelled"],
            counts["dropped"],
            params.paths.corrections,
        )


PART = collect
