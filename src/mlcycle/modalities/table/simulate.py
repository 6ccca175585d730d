"""`mlcycle simulate` for a table task: rows sent as JSON, one transaction a request.

Without a shift it replays valid rows of a split (data/validated/rows.parquet), as the
file modalities replay their files. `--shift strategy:<name>` is the article's scenario:
attackers switch to another strategy. It needs the built-in transactions task, whose
generator draws fresh accounts (another seed than the collection's) where every attack is
`<name>`, at the share of accounts the configured strategies strike together; `name` may
be one the model never saw (bust_out, off in the default collection).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from mlcycle.modalities.table.columns import TableSpec, read_rows
from mlcycle.modalities.table.transactions import STRATEGIES, generate

SHIFTS = {"strategy"}


def parse_shift(spec: str) -> tuple[str, str]:
    """'strategy:bust_out' -> ('strategy', 'bust_out'); ValueError naming a bad one."""
    name, _, value = spec.partition(":")
    if name not in SHIFTS:
        raise ValueError(f"shift {spec!r}: choose from {sorted(SHIFTS)} for table tasks")
    if value not in STRATEGIES:
        raise ValueError(f"shift {spec!r}: choose a strategy from {list(STRATEGIES)}")
    return name, value


def switched(params: DictConfig, strategy: str, seed: int) -> pd.DataFrame:
    """Fresh transactions where every attack is `strategy` (the collection's share), of
    accounts (and ids) the collection does not hold."""
    if "transactions" not in params.collect.sources or params.collect.transactions is None:
        raise ValueError(
            "--shift strategy:... needs the built-in transactions task (task=transactions)"
        )
    cfg = OmegaConf.to_container(params.collect.transactions, resolve=True)
    share = sum(float(v or 0.0) for v in cfg["strategies"].values())
    cfg["strategies"] = {name: share if name == strategy else 0.0 for name in STRATEGIES}
    draw = params.seed + 1000 + seed
    table = generate(OmegaConf.create(cfg), draw)
    for column in ("transaction_id", "account"):  # other accounts than the collection's
        table[column] = f"s{draw}-" + table[column]
    return table


def json_value(value):
    """A cell as a JSON row carries it: None for missing, ISO text for times."""
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value).isoformat()
    return float(value) if isinstance(value, (int, float, np.number)) else value


def traffic(
    params: DictConfig, split: str, count: int, shifts: dict[str, str], seed: int
) -> list[tuple[str, bytes]]:
    """(true label, JSON body) of `count` rows, in the order of their own time."""
    spec = TableSpec.from_config(params.task.table)
    if "strategy" in shifts:
        rows = switched(params, shifts["strategy"], seed)
    else:
        rows = read_rows(Path(params.paths.validated), "validate")
        rows = rows[rows["split"] == split]
        if rows.empty:
            raise ValueError(f"{params.paths.validated} has no {split!r} rows to replay")
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(rows), size=min(count, len(rows)), replace=False)
    rows = rows.iloc[np.sort(picks)].sort_values(spec.time_column, kind="stable")
    sent = [spec.id_column, spec.time_column, *(c.name for c in spec.columns)]
    return [
        (record.pop(spec.label_column), orjson.dumps({k: json_value(record[k]) for k in sent}))
        for record in rows[[*sent, spec.label_column]].to_dict("records")
    ]
