"""`mlcycle monitor export --labels L.csv --out F.csv` for a table task: the rows the server
answered, with the labels that arrived, as a `table` source for collect
(collect.sources=[..., table], collect.table.path=F.csv).

Each row is what the server logged (`row_values`: its fields, its id, its own time where
the client sent it, else the time it was answered). The log holds no account, so each
exported row is its own group (task.table.group_column = the row's id): a user who has
the accounts joins them in before collecting. Meta columns (e.g. the attack strategy) are
left empty: production does not know them.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd

from mlcycle.atomic import write_csv_atomic, write_with
from mlcycle.modalities.table.columns import TableSpec
from mlcycle.monitor.labels import read_labels


def export_rows(log: pd.DataFrame, labels_csv: Path, out: Path, spec: TableSpec, labels: list[str]):
    """Write the labelled answers to `out` (.csv or .parquet); the number of rows written.
    ValueError names a bad labels file, or labels that match no logged row."""
    if out.suffix not in (".csv", ".parquet"):
        raise ValueError(f"--out {out}: a table task exports a .csv or .parquet file")
    given, key = read_labels(labels_csv, labels, spec.id_column)
    served = log[(log["route"] != "shadow") & log["row_values"].notna()]
    served = served.drop_duplicates("request_id", keep="last")
    records = []
    truth = given.set_index(key)["label"]
    for request_id, when, text in zip(served["request_id"], served["time"], served["row_values"]):
        row = orjson.loads(text)
        label = truth.get(request_id if key == "request_id" else str(row.get(spec.id_column)))
        if label is None:
            continue
        row.setdefault(spec.id_column, request_id)
        row.setdefault(spec.time_column, pd.Timestamp(when, unit="s").isoformat())
        records.append({**row, spec.label_column: label, spec.group_column: row[spec.id_column]})
    if not records:
        raise ValueError(f"none of the labels in {labels_csv} matches a logged row (by {key})")
    frame = pd.DataFrame.from_records(records)
    for name in spec.meta_columns:
        frame[name] = ""
    frame = frame.reindex(columns=spec.names)
    frame = frame.drop_duplicates(spec.id_column, keep="last")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        write_csv_atomic(out, frame)
    else:
        write_with(out, lambda tmp: frame.to_parquet(tmp, index=False))
    return len(frame)


def sample_rows(log: pd.DataFrame, n: int, out: Path) -> int:
    """<out>/to_label.csv: the `n` answered rows the model was least sure of (the score
    nearest the middle, 0.5), each with its request id, values, score and decision, and
    an empty label column for a person to fill (then: export --labels)."""
    served = log[(log["route"] != "shadow") & log["row_values"].notna()]
    served = served.drop_duplicates("request_id", keep="last")
    order = (served["score"] - 0.5).abs().sort_values(na_position="first").index
    chosen = served.loc[order[:n]]
    values = pd.DataFrame.from_records([orjson.loads(t) for t in chosen["row_values"]])
    table = pd.concat(
        [
            pd.DataFrame(
                {
                    "request_id": chosen["request_id"].to_numpy(),
                    "predicted": chosen["label"].to_numpy(),
                    "score": chosen["score"].to_numpy(),
                }
            ),
            values,
        ],
        axis=1,
    ).assign(label="")
    write_csv_atomic(out / "to_label.csv", table)
    return len(table)
