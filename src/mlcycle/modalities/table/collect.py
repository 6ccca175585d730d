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
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from mlcycle.atomic import write_with
from mlcycle.modalities.table.columns import ROWS, TableError, TableSpec, typed
from mlcycle.modalities.table.transactions import generate

log = logging.getLogger("mlcycle")
DEFECTS = ("out_of_range", "missing_value", "unknown_category", "duplicate")


def read_user_table(path: str | Path) -> tuple[pd.DataFrame, bool]:
    """The user's CSV or Parquet file as strings / its own types; (frame, is_csv)."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"collect.table.path: file not found: {path}")
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""]), True
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path), False
    except (ValueError, OSError, pd.errors.ParserError) as e:
        raise TableError(f"{path}: cannot read it: {e}") from None
    raise TableError(f"collect.table.path: {path} is neither .csv nor .parquet")


def source_rows(params: DictConfig, spec: TableSpec, labels: list[str]) -> pd.DataFrame:
    """Every source's rows, typed, with `source` and `defect` columns."""
    frames = []
    for name in params.collect.sources:
        if name == "transactions":
            cfg = params.collect.transactions
            if cfg is None:
                raise TableError("collect.sources has 'transactions' but it is not configured")
            rows = typed(generate(cfg, params.seed), spec, labels, "transactions", lines=False)
            rows = inject_defects(rows, spec, params.collect.defect_fraction, params.seed)
        elif name == "table":
            if params.collect.table is None:
                raise TableError("collect.sources has 'table' but collect.table is not set")
            frame, is_csv = read_user_table(params.collect.table.path)
            rows = typed(frame, spec, labels, str(params.collect.table.path), lines=is_csv)
            rows["defect"] = ""
        else:
            raise TableError(
                f"unknown source {name!r} for a table task; choose from ['table', 'transactions']"
            )
        frames.append(rows.assign(source=name))
    if not frames:
        raise TableError("collect.sources is empty")
    return pd.concat(frames, ignore_index=True)


def inject_defects(rows: pd.DataFrame, spec: TableSpec, fraction: float, seed: int):
    """Spoil `fraction` of the rows, one defect each, as a real feed is spoilt."""
    rows = rows.assign(defect="")
    rng = np.random.default_rng([seed, 99])
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


def collect_table(params: DictConfig, out: Path) -> pd.DataFrame:
    """Write the collection to out/rows.parquet (the folder replaced whole, atomically)."""
    spec = TableSpec.from_config(params.task.table)
    rows = source_rows(params, spec, list(params.task.labels))
    for c in spec.categorical:  # parquet keeps None as missing, strings as strings
        rows[c.name] = rows[c.name].astype(object)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    write_with(staging / ROWS, lambda p: rows.to_parquet(p, index=False))
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return rows


def collect(params: DictConfig) -> None:
    rows = collect_table(params, Path(params.paths.raw))
    log.info(
        "collected %d rows into %s from %s (%d defective on purpose): %s",
        len(rows),
        Path(params.paths.raw) / ROWS,
        list(params.collect.sources),
        int((rows["defect"] != "").sum()),
        rows[TableSpec.from_config(params.task.table).label_column].value_counts().to_dict(),
    )


PART = collect
