"""A table task's collect and validate as a user runs them: own CSVs, bad ones, the split."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mlcycle.modalities.table.columns import ROWS
from mlcycle.stages import collect, validate
from tests.conftest import compose_params
from tests.modalities.table.test_transactions import config

TABLE = ["task=transactions", "collect.transactions.accounts=600", "validate.min_per_class=5"]
OWN = ["task=transactions", "collect.sources=[table]", "validate.min_per_class=1"]


@pytest.fixture(scope="module")
def transactions():
    """A small built-in table, as a user's own CSV would hold it."""
    from mlcycle.modalities.table.transactions import generate

    return generate(config(accounts=120), 3)


def own_csv(tmp_path, monkeypatch, frame: pd.DataFrame, *overrides) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/external").mkdir(parents=True)
    frame.to_csv(tmp_path / "data/external/transactions.csv", index=False)
    (tmp_path / "params.yaml").write_text(compose_params([*OWN, *overrides]))


def test_own_csv_is_collected_typed_and_validated(tmp_path, monkeypatch, transactions):
    own_csv(tmp_path, monkeypatch, transactions)
    assert collect.main([]) == 0
    rows = pd.read_parquet(tmp_path / "data/raw" / ROWS)
    assert len(rows) == len(transactions)
    assert rows["amount"].dtype == float and rows["time"].dtype.kind == "M"
    # an empty CSV cell is a missing value, not the string "nan"
    assert rows["device"].isna().sum() == transactions["device"].isna().sum() > 0
    assert validate.main([]) == 0
    data = json.loads((tmp_path / "metrics/data.json").read_text())
    assert data["rejected"] == 0 and data["valid"] == len(transactions)


def put(frame: pd.DataFrame, column: str, row: int, value: str) -> pd.DataFrame:
    frame = frame.astype({column: object})
    frame.at[row, column] = value
    return frame


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda f: f.drop(columns="channel"), "missing column(s) ['channel']"),
        (
            lambda f: put(f, "amount", 7, "12,50"),
            "line 9: column 'amount' is a number column, got '12,50'",
        ),
        (
            lambda f: put(f, "label", 4, "chargeback"),
            "line 6: column 'label' holds 'chargeback', not one of task.labels",
        ),
        (
            lambda f: put(f, "time", 2, "yesterday"),
            "line 4: column 'time' (task.table.time_column) is not a time: 'yesterday'",
        ),
        (lambda f: f.iloc[:0], "the table has no rows"),
    ],
    ids=["missing_column", "wrong_type", "unknown_label", "not_a_time", "empty"],
)
def test_a_bad_own_table_stops_collect_naming_column_and_line(
    tmp_path, monkeypatch, capsys, transactions, spoil, message
):
    own_csv(tmp_path, monkeypatch, transactions)
    assert collect.main([]) == 0
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "data/raw").rglob("*")}
    spoil(transactions.copy()).to_csv(tmp_path / "data/external/transactions.csv", index=False)
    assert collect.main([]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "transactions.csv" in err
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "data/raw").rglob("*")}
    assert before == after  # the previous collection is untouched


def test_a_missing_own_file_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(compose_params(OWN))
    assert collect.main([]) == 2
    assert "file not found: data/external/transactions.csv" in capsys.readouterr().err


def test_own_parquet_is_read_with_its_types(tmp_path, monkeypatch, transactions):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/external").mkdir(parents=True)
    transactions.to_parquet(tmp_path / "data/external/tx.parquet")
    (tmp_path / "params.yaml").write_text(
        compose_params([*OWN, "collect.table.path=data/external/tx.parquet"])
    )
    assert collect.main([]) == 0
    assert len(pd.read_parquet(tmp_path / "data/raw" / ROWS)) == len(transactions)


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    """The built-in transactions (600 accounts, defects injected) collected and validated."""
    from tests.conftest import run_stages_in

    path = tmp_path_factory.mktemp("table")
    (path / "params.yaml").write_text(compose_params(TABLE))
    run_stages_in(path, collect, validate)
    return path


def test_every_injected_defect_is_rejected_with_its_reason(validated):
    raw = pd.read_parquet(validated / "data/raw" / ROWS)
    rejected = pd.read_csv(validated / "data/validated/rejected.csv", keep_default_na=False)
    valid = pd.read_parquet(validated / "data/validated" / ROWS)
    assert len(valid) + len(rejected) == len(raw)  # no row lost silently
    spoilt = raw[raw["defect"] != ""].reset_index().rename(columns={"index": "row"})
    assert len(spoilt) > 50
    got = spoilt.merge(rejected[["row", "reason"]], on="row", how="left")
    assert got["reason"].notna().all(), "an injected defect passed validation"
    assert (got["reason"] == got["defect"]).all(), got[got["reason"] != got["defect"]]
    assert set(rejected["reason"]) == {
        "out_of_range",
        "missing_value",
        "unknown_category",
        "duplicate",
    }
    detail = rejected.loc[rejected["reason"] == "unknown_category", "detail"].iloc[0]
    assert "'channel'" in detail and "'??'" in detail
    data = json.loads((validated / "metrics/data.json").read_text())
    assert data["rejected_by_reason"] == rejected["reason"].value_counts().to_dict()
    report = (validated / "reports/data/README.md").read_text()
    assert "## Rejected rows by reason" in report and "device" in report
    assert (validated / "reports/data/hist/amount.csv").is_file()


def test_the_split_trains_on_the_past_and_no_account_is_in_two_splits(validated):
    valid = pd.read_parquet(validated / "data/validated" / ROWS)
    used = valid[valid["split"] != "unused"]
    assert used.groupby("account")["split"].nunique().max() == 1
    train = used[used["split"] == "train"]
    for split in ("val", "test"):
        part = used[used["split"] == split]
        assert len(part) > 500 and (part["label"] == "fraud").sum() > 5
        assert train["time"].max() < part["time"].min()  # scored on the future only
    data = json.loads((validated / "metrics/data.json").read_text())
    assert sum(data["split_sizes"].values()) == len(valid)
    assert 0.0 < data["missing_fraction"]["device"] < 0.12
    assert data["missing_fraction"]["amount"] == 0.0


def copy_of(validated, tmp_path, monkeypatch):
    import shutil

    shutil.copytree(validated, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_column_that_gives_the_label_away_stops_validate(
    validated, tmp_path, capsys, monkeypatch
):
    copy_of(validated, tmp_path, monkeypatch)
    rows = pd.read_parquet(tmp_path / "data/raw" / ROWS)
    rows["merchant_is_new"] = (rows["label"] == "fraud").astype(float)  # a leak
    rows.to_parquet(tmp_path / "data/raw" / ROWS)
    assert validate.main([]) == 2
    err = capsys.readouterr().err
    assert "column 'merchant_is_new' predicts 'label' on its own" in err
    assert "validate.table.max_feature_auc" in err


def test_a_column_missing_too_often_stops_validate(validated, tmp_path, capsys, monkeypatch):
    copy_of(validated, tmp_path, monkeypatch)
    assert validate.main(["validate.table.max_missing_fraction=0.01"]) == 2
    err = capsys.readouterr().err
    assert "column 'country' is missing in" in err or "column 'device' is missing in" in err
    assert "validate.table.max_missing_fraction" in err


def test_chunks_change_nothing_a_user_sees_and_a_repeat_chunks_apart_is_found(
    tmp_path, monkeypatch, transactions
):
    """collect and validate read a chunk of rows at a time (memory flat as rows grow):
    with chunks of 400 rows, a repeated id two thousand rows after its first is still
    rejected naming that row, a bad value in a late chunk is named by its own CSV line,
    and every file and figure is what one chunk of the whole table gives."""
    from mlcycle.modalities.table import chunks

    frame = transactions.copy()
    last = len(frame) - 1
    frame.at[last, "transaction_id"] = frame.at[5, "transaction_id"]
    own_csv(tmp_path, monkeypatch, frame)
    outputs = {}
    for size in (len(frame) * 2, 400):  # one chunk, then many
        monkeypatch.setattr(chunks, "CHUNK_ROWS", size)
        assert collect.main([]) == 0 and validate.main([]) == 0
        outputs[size] = {
            "data": json.loads((tmp_path / "metrics/data.json").read_text()),
            "rejected": pd.read_csv(tmp_path / "data/validated/rejected.csv"),
            "valid": pd.read_parquet(tmp_path / "data/validated" / ROWS),
            "hist": pd.read_csv(tmp_path / "reports/data/hist/amount.csv"),
        }
    one, many = outputs.values()
    assert len(frame) > 5 * 400
    assert many["rejected"].to_dict("records") == [
        {
            "row": last,
            "id": frame.at[5, "transaction_id"],
            "label": frame.at[last, "label"],
            "reason": "duplicate",
            "detail": "same transaction_id as row 5",
        }
    ]
    assert many["data"] == one["data"]
    assert many["data"]["valid"] == len(frame) - 1
    pd.testing.assert_frame_equal(many["valid"], one["valid"])
    pd.testing.assert_frame_equal(many["hist"], one["hist"])
    spoilt = put(frame, "amount", last - 1, "12,50")
    spoilt.to_csv(tmp_path / "data/external/transactions.csv", index=False)
    with pytest.raises(Exception, match=f"line {last + 1}: column 'amount'"):
        from mlcycle.config import load
        from mlcycle.modalities.table.collect import collect_table

        collect_table(load([]), tmp_path / "data/raw")


def test_label_corrections_relabel_and_drop_rows_by_id(tmp_path, monkeypatch, capsys, transactions):
    """The review's decisions for rows (paths.corrections, `id,label`, `drop` removes the
    row) are applied by collect; a bad line stops it naming the line, and the previous
    collection stays."""
    own_csv(tmp_path, monkeypatch, transactions)
    ids = transactions["transaction_id"]
    legit = transactions.index[transactions["label"] == "legit"]
    (tmp_path / "data/labels").mkdir(parents=True)
    corrections = tmp_path / "data/labels/corrections.csv"
    corrections.write_text(f"id,label\n{ids[legit[0]]},fraud\n{ids[legit[1]]},drop\n")
    assert collect.main([]) == 0
    rows = pd.read_parquet(tmp_path / "data/raw" / ROWS).set_index("transaction_id")
    assert len(rows) == len(transactions) - 1 and ids[legit[1]] not in rows.index
    assert rows.at[ids[legit[0]], "label"] == "fraud"
    assert "1 rows relabelled and 1 dropped" in capsys.readouterr().err
    before = (tmp_path / "data/raw" / ROWS).stat().st_mtime_ns
    for text, message in (
        (f"id,label\n{ids[0]},chargeback\n", "line 2: label 'chargeback' is neither 'drop'"),
        (f"id,label\n{ids[0]},fraud\nnope,fraud\n", "line 3: no collected row 'nope'"),
        ("row,verdict\n1,fraud\n", "need columns 'transaction_id' (or 'id') and 'label'"),
    ):
        corrections.write_text(text)
        assert collect.main([]) == 2
        assert message in capsys.readouterr().err
        assert (tmp_path / "data/raw" / ROWS).stat().st_mtime_ns == before
