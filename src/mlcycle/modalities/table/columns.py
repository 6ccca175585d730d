"""A table task's columns (task.table): their types, and the schemas derived from them.

    task.table.id_column     one id per row (unique)
    task.table.label_column  one of task.labels
    task.table.time_column   when the row happened: the split trains on the past
    task.table.group_column  who it belongs to (an account): never in two splits
    task.table.columns       the features: {name: {type: number | category, nullable,
                             min, max, categories, transform}}
    task.table.meta_columns  kept for slices and reports, never features (e.g. strategy)

`typed` turns a file's values into these types, stopping at the first column that cannot
be read (naming the column, the line and the value); `row_schema` is the pandera schema
validate holds each row to (ranges, allowed categories, missing values, unique ids).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from omegaconf import DictConfig, OmegaConf

NUMBER, CATEGORY = "number", "category"
ROWS = "rows.parquet"  # a collection (paths.raw) and its valid rows (paths.validated)


class TableError(ValueError):
    """A table cannot be read as the task declares it; the message names the column."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # number | category
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None  # allowed values; None: any (learnt in training)
    transform: str | None = None  # number: "log" (log1p) before standardising


@dataclass(frozen=True)
class TableSpec:
    id_column: str
    label_column: str
    time_column: str
    group_column: str
    columns: list[Column]
    meta_columns: list[str] = field(default_factory=list)

    @classmethod
    def from_config(cls, table: DictConfig | dict | None) -> TableSpec:
        if table is None:
            raise TableError("task.table is not set: a table task declares its columns there")
        t = OmegaConf.to_container(table, resolve=True) if isinstance(table, DictConfig) else table
        columns = [Column(name, **spec) for name, spec in t["columns"].items()]
        for c in columns:
            if c.type not in (NUMBER, CATEGORY):
                raise TableError(
                    f"task.table.columns.{c.name}.type is {c.type!r}; choose number or category"
                )
        return cls(
            t["id_column"],
            t["label_column"],
            t["time_column"],
            t["group_column"],
            columns,
            list(t.get("meta_columns") or []),
        )

    @property
    def numeric(self) -> list[Column]:
        return [c for c in self.columns if c.type == NUMBER]

    @property
    def categorical(self) -> list[Column]:
        return [c for c in self.columns if c.type == CATEGORY]

    @property
    def keys(self) -> list[str]:
        return [self.id_column, self.label_column, self.time_column, self.group_column]

    @property
    def names(self) -> list[str]:
        """Every column a collection keeps, in order."""
        return [*self.keys, *(c.name for c in self.columns), *self.meta_columns]


def _line(index, lines: bool) -> str:
    return f"line {int(index) + 2}" if lines else f"row {int(index)}"


def typed(frame: pd.DataFrame, spec: TableSpec, labels: list[str], where: str, lines: bool):
    """`frame` with the spec's columns in the spec's types (numbers float, times
    datetime64, the rest strings or missing). TableError names the first column that is
    missing or holds a value of another type or an unknown label, with its line (CSV: the
    file's line, the header being line 1) or row (Parquet)."""
    if frame.empty:
        raise TableError(f"{where}: the table has no rows")
    missing = [c for c in spec.names if c not in frame.columns]
    if missing:
        raise TableError(f"{where}: missing column(s) {missing} (task.table declares them)")
    out = frame[spec.names].copy()
    for name in [c.name for c in spec.numeric]:
        values = pd.to_numeric(out[name], errors="coerce")
        bad = values.isna() & out[name].notna() & (out[name].astype(str).str.strip() != "")
        if bad.any():
            i = bad.idxmax()
            raise TableError(
                f"{where} {_line(i, lines)}: column {name!r} is a number column, "
                f"got {out.at[i, name]!r}"
            )
        out[name] = values.astype(float)
    times = pd.to_datetime(out[spec.time_column], errors="coerce")
    if times.isna().any():
        i = times.isna().idxmax()
        raise TableError(
            f"{where} {_line(i, lines)}: column {spec.time_column!r} (task.table.time_column) "
            f"is not a time: {out.at[i, spec.time_column]!r}"
        )
    out[spec.time_column] = times.astype("datetime64[ns]")
    for name in [*(c.name for c in spec.categorical), *spec.keys[:2], spec.group_column]:
        col = out[name]
        out[name] = col.where(col.isna(), col.astype(str).str.strip()).replace("", None)
    for name in (spec.id_column, spec.group_column, spec.label_column):
        if out[name].isna().any():
            i = out[name].isna().idxmax()
            raise TableError(f"{where} {_line(i, lines)}: column {name!r} is empty")
    unknown = ~out[spec.label_column].isin(labels)
    if unknown.any():
        i = unknown.idxmax()
        raise TableError(
            f"{where} {_line(i, lines)}: column {spec.label_column!r} holds "
            f"{out.at[i, spec.label_column]!r}, not one of task.labels {labels}"
        )
    return out


def row_schema(spec: TableSpec) -> pa.DataFrameSchema:
    """What validate holds every row to: ranges, allowed categories, missing values only
    where a column is nullable, one row per id."""
    columns = {spec.id_column: pa.Column(str, unique=True, nullable=False)}
    for c in spec.columns:
        checks = []
        if c.min is not None:
            checks.append(pa.Check.ge(c.min))
        if c.max is not None:
            checks.append(pa.Check.le(c.max))
        if c.categories is not None:
            checks.append(pa.Check.isin(c.categories))
        if c.type == NUMBER:
            checks.append(pa.Check(lambda s: np.isfinite(s) | s.isna(), name="finite"))
        columns[c.name] = pa.Column(
            float if c.type == NUMBER else object, checks, nullable=c.nullable
        )
    return pa.DataFrameSchema(columns, strict=False)


def read_rows(folder: str | Path, stage: str) -> pd.DataFrame:
    path = Path(folder) / ROWS
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (run the {stage} stage first)")
    return pd.read_parquet(path)
