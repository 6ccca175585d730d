"""The typed schema of a table task's own sections of params.yaml (mlcycle.config merges
each section present into its dataclass, as mlcycle.params does for the core ones, so an
unknown key or a value of the wrong type fails with the key's full name before any work
starts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class TableColumn:
    type: str  # number | category
    nullable: bool
    min: Optional[float] = None
    max: Optional[float] = None
    categories: Optional[list[str]] = None  # allowed values; None: any
    transform: Optional[str] = None  # number: "log" (log1p) before standardising


@dataclass
class TableTask:
    """A table task's columns (mlcycle.modalities.table.columns)."""

    id_column: str
    label_column: str
    time_column: str
    group_column: str
    columns: dict[str, TableColumn]
    meta_columns: list[str]


@dataclass
class TransactionsSource:
    # mlcycle.modalities.table.transactions
    accounts: int
    days: int
    tx_per_day: list[float]  # an account's rate is drawn log-uniformly from this range
    strategies: dict[str, float]  # attack strategy -> share of accounts it strikes
    missing: dict[str, float]  # column -> share of rows where it is missing
    missing_seed: int


@dataclass
class TableSource:
    path: str  # a CSV or Parquet file with task.table's columns


@dataclass
class TableChecks:
    max_missing_fraction: float  # a column missing in more of its rows stops validate
    max_feature_auc: float  # a column this predictive on its own is a label leak
    future_fraction: float  # rows after the time cut: val and test (train is before)


@dataclass
class TableFeaturize:
    min_category_count: int  # rarer values share the unknown bucket
    max_categories: int  # per column, the most frequent


@dataclass
class TableEvaluate:
    # The alert threshold is the lowest whose precision on val reaches this; the test's
    # recall at that threshold is what a fraud team gets (recall_at_precision).
    precision: float
    bootstrap: int  # resamples for the PR-AUC / ROC-AUC intervals


# section of params.yaml -> its schema
PART = {
    "task.table": TableTask,
    "collect.transactions": TransactionsSource,
    "collect.table": TableSource,
    "validate.table": TableChecks,
    "featurize.table": TableFeaturize,
    "evaluate.table": TableEvaluate,
}
