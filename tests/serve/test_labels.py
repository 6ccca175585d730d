"""Labels that arrive late (`mlcycle monitor labels`), and performance estimated before they
do (CBPE): measured against the realised labels while attackers keep to the strategies the
model learnt, and after they switch to one it never saw (bust_out)."""

from __future__ import annotations

import json
import subprocess
import time

import pandas as pd
import pytest
from omegaconf import OmegaConf

from mlcycle.modalities.table.evaluate import _plain
from mlcycle.modalities.table.transactions import EPOCH, generate
from mlcycle.models.package import load_package
from mlcycle.monitor.labels import read_labels
from mlcycle.monitor.store import read_log
from tests.serve.conftest import MLCYCLE, serving

WINDOW = pd.Timedelta("15D")
# after the period the model learnt from (days 0-120), the switch on a window's edge (day
# 81): two windows before it, two after
SWITCH = (pd.Timestamp(EPOCH) + pd.Timedelta("80D")).ceil(WINDOW)
CALM = {"card_testing": 0.03, "account_takeover": 0.03, "bust_out": 0.0}
SWITCHED = {"card_testing": 0.0, "account_takeover": 0.0, "bust_out": 0.06}


@pytest.fixture(scope="module")
def fraud(learnt):
    return learnt("transactions")


def transactions(folder, strategies: dict, seed: int, accounts: int = 1000) -> pd.DataFrame:
    cfg = OmegaConf.load(folder / "params.yaml").collect.transactions
    cfg.accounts, cfg.strategies = accounts, strategies
    return generate(cfg, seed)


@pytest.fixture(scope="module")
def switched(fraud, tmp_path_factory):
    """A log of four 15-day windows of traffic (the rows' own time, ~14,000 rows, ~180
    frauds): attackers keep to card testing and account takeover for two, then switch to
    bust_out; and every label."""
    before = transactions(fraud, CALM, seed=21)
    after = transactions(fraud, SWITCHED, seed=22)
    after["transaction_id"] = "s" + after["transaction_id"]  # another day's ids
    before = before[(before["time"] >= SWITCH - 2 * WINDOW) & (before["time"] < SWITCH)]
    after = after[(after["time"] >= SWITCH) & (after["time"] < SWITCH + 2 * WINDOW)]
    table = pd.concat([before, after])
    package = load_package(fraud / "models/package", runtime="torch")
    fields = ["transaction_id", "time", *package.featurizer.cfg.fields]
    rows = [{k: _plain(v) for k, v in r.items()} for r in table[fields].to_dict("records")]
    for row in rows:
        row["time"] = pd.Timestamp(row["time"]).isoformat()
    out = tmp_path_factory.mktemp("late-labels")
    store = f"sqlite:///{out}/log.db"
    with serving(fraud, f"monitor.store={store}", "monitor.flush_s=0.2", token=None) as server:
        with server.client() as client:
            for start in range(0, len(rows), 256):
                r = client.post("/v1/predict", json=rows[start : start + 256])
                assert r.status_code == 200, r.text
        time.sleep(1.0)
    labels = table[["transaction_id", "label"]]
    labels.to_csv(out / "labels.csv", index=False)
    labels[labels["label"] == "fraud"].to_csv(out / "chargebacks.csv", index=False)
    return {"folder": fraud, "store": store, "out": out, "table": table, "version": package.version}


def at(text: str) -> pd.Timestamp:
    """A window's edge (UTC) as the table's times are (naive UTC)."""
    return pd.Timestamp(text).tz_convert(None)


def late(case, *args: str) -> tuple[int, dict | None, str]:
    """`mlcycle monitor labels ...` over the case's log: exit code, report, output."""
    report = case["out"] / "labels.json"
    report.unlink(missing_ok=True)
    done = subprocess.run(
        [MLCYCLE, "monitor", "labels", *args, f"monitor.store={case['store']}",
         f"paths.monitoring.labels={report}"],
        cwd=case["folder"], capture_output=True, text=True,
    )  # fmt: skip
    written = json.loads(report.read_text()) if report.exists() else None
    return done.returncode, written, done.stdout + done.stderr


def test_late_labels_give_realised_recall_per_window_and_cbpe_estimated_it_before(switched):
    code, report, output = late(switched, str(switched["out"] / "labels.csv"), "--window", "15D")
    assert code == 1, output  # realised recall fell: a critical alert
    assert report["joined_on"] == "transaction_id" and report["unmatched"] == 0
    assert report["matched"] == len(switched["table"]) and "time" in report["clock"]
    windows = report["versions"][switched["version"]]["windows"]
    calm = [w for w in windows if at(w["end"]) <= SWITCH]
    after = [w for w in windows if at(w["start"]) >= SWITCH]
    assert len(calm) == 2 and len(after) == 2 and len(windows) == 4
    for w in windows:  # pytest -s prints what the README's table shows
        print(
            f"{w['start'][:10]}: {w['labelled_positives']} frauds, realised precision "
            f"{w['realised_precision']} recall {w['realised_recall']}, estimated precision "
            f"{w['estimated_precision']} recall {w['estimated_recall']}"
        )
    frauds = switched["table"].groupby(switched["table"]["time"] >= SWITCH)["label"]
    assert sum(w["labelled_positives"] for w in after) == (frauds.get_group(True) == "fraud").sum()
    for w in calm:  # attackers as in training: the estimate is close to what labels say
        assert w["realised_recall"] > 0.5, w
        assert abs(w["estimated_recall"] - w["realised_recall"]) < 0.2, w
        assert abs(w["estimated_precision"] - w["realised_precision"]) < 0.25, w
    for w in after:  # bust_out: the model misses most of it...
        assert w["realised_recall"] < 0.35, w
    # ...and CBPE, from the scores alone, saw recall fall, by less than it did (its blind
    # spot: how scores relate to labels changed, which is what it assumes does not)
    mean = lambda ws, k: sum(w[k] for w in ws) / len(ws)  # noqa: E731
    estimated_fall = mean(calm, "estimated_recall") - mean(after, "estimated_recall")
    realised_fall = mean(calm, "realised_recall") - mean(after, "realised_recall")
    assert 0.15 < estimated_fall < realised_fall, (estimated_fall, realised_fall)
    fired = {(a["alert"], a["window"]) for a in report["alerts"]}
    assert {a for a, w in fired if at(w) < SWITCH} == set(), report["alerts"]
    assert {("realised_recall_low", w["start"]) for w in after} <= fired
    assert "realised_recall_low" in output and "CRITICAL" in output

    # a chargeback file lists the frauds only: what it does not name was legit
    chargebacks = str(switched["out"] / "chargebacks.csv")
    code, same, output = late(switched, chargebacks, "--window", "15D", "--unlabelled-as", "legit")
    assert code == 1, output
    assert same["versions"] == report["versions"]


def test_monitor_fires_on_the_estimated_recall_before_any_label_arrives(switched):
    """`mlcycle monitor` over the answers after the switch: the estimated recall fell."""
    after = int((switched["table"]["time"] >= SWITCH).sum())
    out = switched["out"]
    done = subprocess.run(
        [MLCYCLE, "monitor", "--last", str(after), f"monitor.store={switched['store']}",
         f"paths.monitoring.json={out}/monitoring.json",
         f"paths.monitoring.html={out}/monitoring.html"],
        cwd=switched["folder"], capture_output=True, text=True,
    )  # fmt: skip
    report = json.loads((out / "monitoring.json").read_text())
    figures = report["versions"][switched["version"]]["figures"]
    assert figures["estimated_recall_change"] < -0.15, figures
    assert "estimated_recall_drop" in {a["alert"] for a in report["alerts"]}, done.stdout
    assert done.returncode == 1


BAD_LABELS = [  # the file's text, a part of the error
    ("", "is empty"),
    ("transaction_id,verdict\na1,fraud\n", "expected request_id,label or transaction_id,label"),
    ("transaction_id,label\n", "holds no labels"),
    ("transaction_id,label\na1,fraud\na2,stolen\n", "line 3: unknown label 'stolen'"),
    ("transaction_id,label\na1,fraud\n,legit\n", "line 3: empty transaction_id"),
    ("transaction_id,label\na1,fraud\na2,legit\na1,legit\n", "lines 2, 4: transaction_id 'a1'"),
]


@pytest.mark.parametrize(("text", "error"), BAD_LABELS)
def test_a_labels_file_that_cannot_be_used_names_the_column_or_line(text, error, tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=error):
        read_labels(path, ["legit", "fraud"], "transaction_id")


def test_labels_in_zeros_and_ones_and_the_cli_refuses_what_matches_nothing(switched, tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("transaction_id,label\na1,1\na2,0\na2,0\n")
    labels, key = read_labels(path, ["legit", "fraud"], "transaction_id")
    assert key == "transaction_id" and labels["label"].tolist() == ["fraud", "legit"]
    code, report, output = late(switched, str(path))
    assert code == 2 and report is None  # refused before any report is written
    assert "none of the 2 labels" in output and "'a1'" in output
    code, _, output = late(switched, str(tmp_path / "absent.csv"))
    assert code == 2 and "labels file not found" in output
    code, _, output = late(switched, str(path), "--window", "fortnight")
    assert code == 2 and "'fortnight' is not a duration" in output


def test_rows_to_label_are_the_least_sure_ones(switched, tmp_path):
    done = subprocess.run(
        [MLCYCLE, "monitor", "export", "--sample", "20", "--out", str(tmp_path),
         f"monitor.store={switched['store']}"],
        cwd=switched["folder"], capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "to_label.csv", keep_default_na=False)
    assert len(table) == 20 and (table["label"] == "").all()
    assert {"request_id", "score", "predicted", "transaction_id", "amount"} <= set(table.columns)
    log = read_log(switched["store"])
    nearest = (log["score"] - 0.5).abs().nsmallest(20)
    assert (table["score"] - 0.5).abs().max() == pytest.approx(nearest.max())


def test_labelled_rows_export_as_a_table_source_collect_reads(switched, tmp_path):
    from mlcycle.modalities.table.collect import read_user_table
    from mlcycle.modalities.table.columns import TableSpec, typed

    out = tmp_path / "feedback.csv"
    done = subprocess.run(
        [MLCYCLE, "monitor", "export", "--labels", str(switched["out"] / "labels.csv"),
         "--out", str(out), f"monitor.store={switched['store']}"],
        cwd=switched["folder"], capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    params = OmegaConf.load(switched["folder"] / "params.yaml")
    spec = TableSpec.from_config(params.task.table)
    parts, is_csv = read_user_table(out)
    rows = typed(pd.concat(parts), spec, list(params.task.labels), str(out), lines=is_csv)
    table = switched["table"].set_index("transaction_id")
    assert len(rows) == len(table)
    assert (rows.set_index("transaction_id")["label"] == table["label"]).all()
    assert rows["amount"].tolist() == pytest.approx(table.loc[rows["transaction_id"], "amount"])
