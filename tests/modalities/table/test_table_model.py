"""Table features, the tabular network and the whole fraud pipeline, as a user sees them."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

from mlcycle.modalities.table.columns import TableSpec
from mlcycle.modalities.table.evaluate import _plain
from mlcycle.modalities.table.featurizer import (
    RowError,
    TableFeaturizer,
    category_counts,
    fit_features,
)
from mlcycle.models.package import load_package
from mlcycle.models.tabular import TabularMLP
from tests.conftest import task_params

SPEC = TableSpec.from_config(
    {
        "id_column": "id",
        "label_column": "label",
        "time_column": "time",
        "group_column": "account",
        "columns": {
            "amount": {"type": "number", "nullable": False, "transform": "log"},
            "age": {"type": "number", "nullable": True},
            "country": {"type": "category", "nullable": True},
        },
    }
)


@pytest.fixture
def featurizer():
    train = pd.DataFrame(
        {
            "amount": [1.0, 10.0, 100.0, 1000.0],
            "age": [1.0, None, 3.0, 5.0],
            "country": ["DE", "DE", "FR", None],
        }
    )
    f = TableFeaturizer(
        fit_features(category_counts(train, SPEC), SPEC, min_count=2, max_categories=10)
    )
    f.fit_stats(f.frame_features(train))
    return f


def test_features_standardise_numbers_and_bucket_unknown_and_missing_values(featurizer):
    assert featurizer.cfg.categorical[0]["vocabulary"] == ["DE"]  # FR seen once: too rare
    rows = [
        {"amount": 10.0, "age": None, "country": "DE"},
        {"amount": 10.0, "age": 3.0, "country": "JP"},  # never seen in training
        {"amount": 10.0, "age": 3.0, "country": None},
    ]
    x = featurizer([featurizer.decode(r) for r in rows])
    # amount, age, whether age and country are missing, country
    assert x.shape == (3, featurizer.width) == (3, 5)
    assert x[0, 1] == 0.0 and x[0, 2] == 1.0  # a missing number is the mean, and flagged
    assert x[1, 2] == 0.0 and x[:, 3].tolist() == [0.0, 0.0, 1.0]
    assert x[:, 4].tolist() == [1.0, 0.0, 0.0]  # DE, then the unknown/missing bucket
    amounts = np.log1p([1.0, 10.0, 100.0, 1000.0])
    assert x[0, 0].item() == pytest.approx((np.log1p(10) - amounts.mean()) / amounts.std(ddof=1))


@pytest.mark.parametrize(
    "row, message",
    [
        ({"amount": 1.0, "age": 2.0, "country": "DE", "iban": "x"}, "unknown field(s) ['iban']"),
        ({"age": 2.0, "country": "DE"}, "field 'amount' is required"),
        ({"amount": "12.5", "country": "DE"}, "field 'amount' must be a finite number"),
        ({"amount": True, "country": "DE"}, "field 'amount' must be a finite number"),
        ({"amount": float("nan"), "country": "DE"}, "field 'amount' must be a finite number"),
        ({"amount": 1.0, "country": 49}, "field 'country' must be a string"),
        ([1.0, 2.0], "a row is a JSON object"),
    ],
)
def test_a_row_that_does_not_fit_the_schema_is_refused_naming_the_field(featurizer, row, message):
    with pytest.raises(RowError, match=re.escape(message)):
        featurizer.decode(row)


def test_the_network_refuses_inputs_of_another_width():
    net = TabularMLP(2, 5, numeric=3, cardinalities=[4, 3])
    assert net(torch.zeros(8, 5)).shape == (8, 2)
    with pytest.raises(ValueError, match=r"expects \(batch, 5\) inputs, got \(8, 6\)"):
        net(torch.zeros(8, 6))
    with pytest.raises(ValueError, match="3 numeric \\+ 2 category inputs"):
        TabularMLP(2, 6, numeric=3, cardinalities=[4, 3])


@pytest.fixture(scope="module")
def fraud(learnt):
    return learnt("transactions")


def test_the_fraud_pipeline_reports_what_a_fraud_team_uses(fraud):
    m = json.loads((fraud / "metrics/eval.json").read_text())
    low, high = m["pr_auc_ci95"]
    assert low <= m["pr_auc"] <= high and high - low < 0.3
    assert m["pr_auc"] > 5 * m["positive_rate"]  # far above chance (the base rate)
    assert m["roc_auc"] > 0.9
    assert set(m["baseline"]) == {"majority", "logistic", "gradient_boosting"}
    assert m["baseline"]["majority"]["pr_auc"] == pytest.approx(m["positive_rate"], abs=0.01)
    assert m["baseline"]["gradient_boosting"]["pr_auc"] > 0.5
    assert set(m["recall_per_strategy"]) == {"card_testing", "account_takeover"}
    assert 0.0 < m["threshold"] < 1.0 and m["recall_at_precision"] > 0.2
    assert m["test_positives"] > 30 and m["latency_cpu_p95_ms"] < 5.0
    reliability = pd.read_csv(fraud / "plots/reliability.csv")  # fraud score vs fraud rate
    assert reliability["count"].sum() == m["test_examples"] and 0 <= m["score_ece"] < 0.2
    slices = pd.read_csv(fraud / "reports/slices.csv")
    assert set(slices["strategy"]) >= {"card_testing", "account_takeover"}
    train = json.loads((fraud / "metrics/train.json").read_text())
    assert 0.0 < train["best_val_ap"] <= 1.0  # the epoch kept is the best by val_ap
    gate = json.loads((fraud / "metrics/gate.json").read_text())
    assert gate["passed"], gate


def test_the_package_scores_rows_and_alerts_at_the_threshold_chosen_on_val(fraud):
    package = load_package(fraud / "models/package", runtime="torch")
    metrics = json.loads((fraud / "metrics/eval.json").read_text())
    assert package.decision == {"positive": "fraud", "threshold": metrics["threshold"]}
    rows = pd.read_parquet(fraud / "data/validated/rows.parquet")
    test = rows[rows["split"] == "test"]
    fields = package.featurizer.cfg.fields
    examples = [{k: _plain(v) for k, v in r.items()} for r in test[fields].to_dict("records")]
    # the path serving runs (JSON rows) gives the scores evaluate measured (stored rows)
    scores = package.predict_proba(examples)[:, 1].numpy()
    predictions = pd.read_csv(fraud / "reports/predictions.csv").set_index("id")
    assert np.allclose(scores, predictions.loc[test["transaction_id"], "score"], atol=1e-5)
    alerts = scores >= package.decision["threshold"]
    fraud_rows = (test["label"] == "fraud").to_numpy()
    assert alerts[fraud_rows].mean() == pytest.approx(metrics["recall_at_precision"], abs=1e-3)
    odd = {**examples[0], "country": "Atlantis", "device": None}  # unknown, missing: allowed
    assert package.predict_proba([odd]).shape == (1, 2)


def test_a_monitor_the_task_cannot_compute_is_refused_before_training(fraud, tmp_path, capsys):
    import shutil

    from tests.conftest import run_as_dvc

    shutil.copytree(fraud, tmp_path, dirs_exist_ok=True)
    import os

    from mlcycle.stages import train

    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert run_as_dvc(train, ["train.monitor=val_f1"]) == 2
    finally:
        os.chdir(old)
    assert "train.monitor is 'val_f1': choose val_acc, or val_ap" in capsys.readouterr().err


def test_every_table_param_is_in_the_config():
    params = task_params(["task=transactions"])
    assert params.task.modality == "table" and params.train.monitor == "val_ap"


def test_the_label_review_names_rows_by_their_id(fraud, tmp_path, monkeypatch):
    import shutil

    from mlcycle.stages import review
    from tests.conftest import run_as_dvc

    shutil.copytree(fraud, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    assert run_as_dvc(review) == 0
    table = pd.read_csv(tmp_path / "reports/label_review/label_review.csv")
    rows = pd.read_parquet(tmp_path / "data/validated/rows.parquet")
    used = rows[rows["split"].isin(["train", "val"])]
    assert set(table["path"]) == set(used["transaction_id"])
    page = (tmp_path / "reports/label_review/index.html").read_text()
    assert table["path"].iloc[0] in page and "columns <code>id,label</code>" in page
