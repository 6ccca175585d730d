"""Table rows over HTTP: JSON rows in, scores and alerts at the package's threshold out."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import torch

from mlcycle.modalities.table.evaluate import _plain
from mlcycle.models.package import load_package
from mlcycle.monitor.store import read_log
from tests.serve.conftest import FAST_CANARY, MLCYCLE, rewrite_package, serving


@pytest.fixture(scope="module")
def fraud(learnt):
    return learnt("transactions")


def rows_of(folder, n: int) -> list[dict]:
    rows = pd.read_parquet(folder / "data/validated/rows.parquet")
    package = load_package(folder / "models/package", runtime="torch")
    test = rows[rows["split"] == "test"]
    # the frauds first, so that a few rows hold both labels
    test = pd.concat([test[test["label"] == "fraud"], test[test["label"] != "fraud"]]).head(n)
    fields = package.featurizer.cfg.fields
    return [{k: _plain(v) for k, v in r.items()} for r in test[fields].to_dict("records")]


def test_a_row_and_a_list_of_rows_are_scored_as_the_package_scores_them(fraud):
    package = load_package(fraud / "models/package", runtime="torch")
    threshold = package.decision["threshold"]
    rows = rows_of(fraud, 40)
    expected = package.predict_proba(rows)[:, 1].numpy()
    with serving(fraud, token=None) as server, server.client() as client:
        one = client.post("/v1/predict", json=rows[0])
        assert one.status_code == 200, one.text
        answer = one.json()
        assert answer["score"] == pytest.approx(expected[0], abs=1e-5)
        assert answer["alert"] == (expected[0] >= threshold) and answer["threshold"] == threshold
        assert answer["label"] == ("fraud" if answer["alert"] else "legit")
        assert answer["model_version"] == package.version and answer["route"] == "stable"
        many = client.post("/v1/predict", json=rows)
        assert many.status_code == 200, many.text
        predictions = many.json()["predictions"]
        assert len(predictions) == len(rows)
        assert np.allclose([p["score"] for p in predictions], expected, atol=1e-5)
        assert [p["alert"] for p in predictions] == list(expected >= threshold)
        assert any(p["alert"] for p in predictions) and not all(p["alert"] for p in predictions)
        ids = [p["request_id"] for p in predictions]
        assert len(set(ids)) == len(rows) and ids[0].startswith(many.json()["request_id"])
        # a missing value where the column is nullable, and a category never seen: answered
        odd = client.post("/v1/predict", json={**rows[1], "device": None, "country": "XX"})
        assert odd.status_code == 200, odd.text
        text = client.get("/metrics").text
    assert f'mlcycle_predictions_total{{label="fraud",model_version="{package.version}"' in text
    log = read_log(f"sqlite:///{fraud}/models/serving/predictions.db")
    logged = log.set_index("request_id")
    for p in predictions:  # each row of a list is logged with its own id and answer
        assert logged.at[p["request_id"], "label"] == p["label"]


BAD = [  # what a client sends, what it gets: status, error, a part of the detail
    (lambda r: {**r, "iban": "DE00"}, 422, "invalid_row", "unknown field(s) ['iban']"),
    (lambda r: {**r, "amount": "12.50"}, 422, "invalid_row", "field 'amount' must be a"),
    (lambda r: {**r, "amount": None}, 422, "invalid_row", "field 'amount' is required"),
    (lambda r: [r, {**r, "hour": "noon"}], 422, "invalid_row", "row 1: field 'hour'"),
    (lambda r: [r] * 300, 413, "too_many_rows", "300 rows in one request; at most 256"),
    (lambda r: [], 422, "invalid_row", "a non-empty list"),
    (lambda r: 42, 422, "invalid_row", "a JSON object (a row)"),
]


def test_a_row_that_does_not_fit_gets_a_4xx_naming_the_field(fraud):
    row = rows_of(fraud, 1)[0]
    json_type = {"Content-Type": "application/json"}
    with serving(fraud, token=None) as server, server.client() as client:
        for change, status, reason, detail in BAD:
            r = client.post("/v1/predict", json=change(row))
            assert r.status_code == status, r.text
            assert r.json()["error"] == reason and detail in r.json()["detail"], r.json()
        bad = client.post("/v1/predict", content=b"{not json", headers=json_type)
        assert bad.status_code == 400 and bad.json()["error"] == "bad_json"
        wav = client.post("/v1/predict", content=b"RIFF....", headers={"Content-Type": "audio/wav"})
        assert wav.status_code == 415 and "application/json" in wav.json()["detail"]
        # still answering after all that
        assert client.post("/v1/predict", json=row).status_code == 200


@pytest.fixture(scope="module")
def fraud_canaries(fraud, tmp_path_factory) -> dict[str, str]:
    """Canaries for the fraud package: another good one (seed 1) and one answering NaN."""
    from mlcycle.stages import evaluate, gate, package, train
    from tests.conftest import LEARNT, compose_params, run_stages_in

    root = tmp_path_factory.mktemp("fraud-canaries")
    good = root / "seed1"
    shutil.copytree(fraud, good)
    (good / "params.yaml").write_text(compose_params([*LEARNT["transactions"], "seed=1"]))
    run_stages_in(good, train, evaluate, gate, package)
    nan = root / "nan"
    shutil.copytree(fraud / "models/package", nan)
    weights = torch.load(nan / "weights.pt", weights_only=True)
    bias = [k for k in weights if k.endswith("bias")][-1]
    weights[bias] = torch.full_like(weights[bias], float("nan"))
    rewrite_package(nan, weights=weights)
    return {"good": str(good / "models/package"), "nan": str(nan)}


def drive_rows(server, rows, until, limit=600) -> list[dict]:
    answers = []
    with server.client() as client:
        while len(answers) < limit:
            for _ in range(20):
                key = {"X-Request-Key": f"account-{len(answers)}"}
                r = client.post("/v1/predict", json=rows[len(answers) % len(rows)], headers=key)
                assert r.status_code == 200, r.text
                answers.append(r.json())
            if until(server.models()["rollout"]):
                return answers
    raise AssertionError(f"rollout stuck: {server.models()['rollout']}")


@pytest.mark.parametrize("canary", ["good", "nan"])
def test_a_canary_of_a_table_model_rolls_out_as_any_other(fraud, fraud_canaries, canary, tmp_path):
    rows = rows_of(fraud, 60)
    stable = load_package(fraud / "models/package").version
    candidate = load_package(fraud_canaries[canary]).version
    end = "promoted" if canary == "good" else "rolled_back"
    shutil.copyfile(fraud / "params.yaml", tmp_path / "params.yaml")  # no rollout yet
    shutil.copytree(fraud / "models/package", tmp_path / "models/package")
    roots = f"serve.package_roots=['{fraud_canaries[canary]}']"
    with serving(tmp_path, *FAST_CANARY, roots) as s:
        started = s.admin("/admin/canary", {"package": fraud_canaries[canary]})
        assert started.status_code == 200, started.text
        answers = drive_rows(s, rows, lambda r: r["status"] == end)
        models = s.models()
    served = {a["model_version"] for a in answers}
    if canary == "good":
        assert models["stable"]["version"] == candidate and candidate in served
    else:  # every request the canary failed was answered by stable, with a finite score
        assert served == {stable} and models["stable"]["version"] == stable
        assert all(0.0 <= a["score"] <= 1.0 for a in answers)
    assert "NaN" not in json.dumps(models)


def traffic(folder, n: int, seed: int) -> list[dict]:
    """`n` rows of the test split as production sends them: a random sample, with ids."""
    rows = pd.read_parquet(folder / "data/validated/rows.parquet")
    package = load_package(folder / "models/package", runtime="torch")
    test = rows[rows["split"] == "test"].sample(n, random_state=seed)
    fields = ["transaction_id", *package.featurizer.cfg.fields]
    return [{k: _plain(v) for k, v in r.items()} for r in test[fields].to_dict("records")]


def monitored(folder, store: str, out, last: int) -> tuple[int, dict, str]:
    """`mlcycle monitor --last N` over `store`: its exit code, report and HTML page."""
    done = subprocess.run(
        [MLCYCLE, "monitor", "--last", str(last), f"monitor.store={store}",
         f"paths.monitoring.json={out}/monitoring.json",
         f"paths.monitoring.html={out}/monitoring.html"],
        cwd=folder, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stdout + done.stderr
    report = json.loads((out / "monitoring.json").read_text())
    return done.returncode, report, (out / "monitoring.html").read_text()


def test_monitor_watches_each_columns_missing_values_unknown_categories_and_alerts(fraud, tmp_path):
    """The article's metric, literally: the share of missing values, per column, against
    the training split; then a device-fingerprint outage and a new market fire alerts."""
    store = f"sqlite:///{tmp_path}/log.db"
    package = load_package(fraud / "models/package", runtime="torch")
    reference = package.reference
    assert reference["modality"] == "table" and 0.02 < reference["missing"]["device"] < 0.12
    calm, outage = traffic(fraud, 300, seed=1), traffic(fraud, 300, seed=2)
    for row in outage:  # the device service is down, and a market never seen opens
        row.update(device=None, device_age_days=None, country="ZZ")
    with serving(fraud, f"monitor.store={store}", "monitor.flush_s=0.2", token=None) as server:
        with server.client() as client:
            for start in range(0, 300, 50):
                r = client.post("/v1/predict", json=calm[start : start + 50])
                assert r.status_code == 200, r.text
            time.sleep(1.0)
            code, report, _ = monitored(fraud, store, tmp_path, 300)
            for start in range(0, 300, 50):
                r = client.post("/v1/predict", json=outage[start : start + 50])
                assert r.status_code == 200, r.text
    figures = report["versions"][package.version]["figures"]
    fired = {a["alert"] for a in report["alerts"]}
    assert code == 0 and not fired & {"missing_column", "unknown_categories", "missing_inputs"}
    assert figures["missing_increase"] < 0.05 and figures["unknown_category_fraction"] < 0.05
    assert 0.3 < figures["flagged_ratio"] < 3.0
    columns = report["versions"][package.version]["details"]["columns"]
    assert abs(columns["device"]["missing"] - reference["missing"]["device"]) < 0.05

    code, report, page = monitored(fraud, store, tmp_path, 300)
    version = report["versions"][package.version]
    fired = {a["alert"] for a in report["alerts"]}
    assert code == 1 and {"missing_column", "unknown_categories"} <= fired, report["alerts"]
    assert version["details"]["columns"]["device"]["missing"] == 1.0
    assert version["details"]["columns"]["country"]["unknown"] == 1.0
    assert version["figures"]["missing_fraction"] >= 2 / 12  # two of twelve columns empty
    assert version["details"]["input_drift"]["country"]["drift"] is True
    assert "Missing values and unknown categories per column" in page and "device_age_days" in page
    # each answer's row is in the log with its id and score: what late labels join on
    log = read_log(store)
    logged = json.loads(log["row_values"].iloc[-1])
    assert logged["transaction_id"] == outage[-1]["transaction_id"] and logged["device"] is None
    assert log["score"].notna().all()
