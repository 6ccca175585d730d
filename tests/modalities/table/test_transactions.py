"""The built-in transactions: reproducible, a pure function of (seed, account), ~1 % fraud."""

import pytest
from omegaconf import OmegaConf

from mlcycle.modalities.table.transactions import STRATEGIES, account_history, generate
from tests.conftest import task_params


def config(**changes):
    cfg = OmegaConf.to_container(task_params(["task=transactions"]).collect.transactions)
    return OmegaConf.create({**cfg, **changes})


def test_same_seed_same_table_and_an_account_ignores_the_others():
    small, large = config(accounts=300), config(accounts=600)
    a, b = generate(small, 0), generate(small, 0)
    assert a.equals(b)
    grown = generate(large, 0)
    one = account_history(0, 123, small).reset_index(drop=True)
    from_grown = grown[grown["account"] == "a000123"].reset_index(drop=True)
    assert one.equals(from_grown)  # adding accounts changed nothing of account 123
    assert not generate(small, 1).equals(a)


def test_fraud_is_rare_and_comes_from_the_configured_strategies():
    table = generate(config(accounts=1500), 0)
    fraud = table["label"] == "fraud"
    assert 0.004 < fraud.mean() < 0.03
    assert set(table.loc[fraud, "strategy"]) == {"card_testing", "account_takeover"}
    assert (table.loc[~fraud, "strategy"] == "").all()
    assert 0.03 < table["device"].isna().mean() < 0.09  # missing as configured (6 %)
    assert table["time"].is_monotonic_increasing
    testing = table[table["strategy"] == "card_testing"]
    assert testing["amount"].median() < table.loc[~fraud, "amount"].median()


def test_bust_out_is_the_strategy_switched_on_later():
    table = generate(config(accounts=800, strategies={"bust_out": 0.05}), 0)
    assert set(table.loc[table["label"] == "fraud", "strategy"]) == {"bust_out"}
    assert "bust_out" in STRATEGIES


def test_an_unknown_strategy_is_refused_by_name():
    with pytest.raises(ValueError, match="phishing"):
        generate(config(strategies={"phishing": 0.1}), 0)
