"""Card transactions with fraud from named attack strategies, generated offline.

Each account's history is a pure function of (seed, account): its own random stream draws
when it opened, how often and how much it spends, where and on what, and whether an
attacker strikes it (and when). Adding accounts never changes the others, and the same
seed gives the same table on any machine.

The columns are those a card processor has at authorisation time: amount, merchant
category, country, channel, device (missing for a share of rows, as device fingerprints
are), the device's and the account's age, whether the merchant is new to the account, and
velocity features (transactions and spend in the last hour / day, from the account's own
history). `strategy` names the attack of a fraudulent row ("" for legitimate ones): it is
metadata for slices and monitoring, never a feature.

Strategies (collect.transactions.strategies: the share of accounts each one strikes):

* card_testing: a burst of 5-15 tiny online payments at merchants new to the account
  within an hour, often from abroad, then one or two large ones;
* account_takeover: a new device abroad at night, 2-6 large payments within hours, on
  goods easy to resell or cash;
* bust_out: the account's own device and country at ordinary hours, 4-10 payments of 3-8x
  its usual spend over two days. Off by default: it is the new strategy attackers switch
  to in the monitoring scenario, the model never saw it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STRATEGIES = ("card_testing", "account_takeover", "bust_out")
CATEGORIES = (
    "grocery",
    "restaurants",
    "fuel",
    "travel",
    "electronics",
    "fashion",
    "digital_goods",
    "gambling",
    "utilities",
    "health",
    "entertainment",
    "cash",
)
COUNTRIES = ("GB", "US", "DE", "FR", "ES", "IT", "NL", "PL", "IE", "SE", "BR", "IN", "NG", "CN")
HOME_SHARE = (0.3, 0.2, 0.1, 0.08, 0.07, 0.06, 0.05, 0.04, 0.03, 0.03, 0.01, 0.01, 0.01, 0.01)
CHANNELS = ("pos", "contactless", "online", "atm")
DEVICES = ("ios", "android", "web", "terminal", "wearable")
EPOCH = np.datetime64("2026-01-01T00:00:00", "s")
# When people pay: few purchases at night (hour 0-5), most in the day and evening.
DIURNAL = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.5, 3, 4, 5, 5, 5.5, 6, 5.5, 5, 5, 5.5, 6,
                    6.5, 6, 5, 4, 3, 2])  # fmt: skip
DIURNAL = DIURNAL / DIURNAL.sum()
RESELLABLE = [CATEGORIES.index(c) for c in ("electronics", "travel", "gambling", "cash")]
COLUMNS = [
    "transaction_id",
    "account",
    "time",
    "amount",
    "merchant_category",
    "merchant_is_new",
    "country",
    "channel",
    "device",
    "device_age_days",
    "account_age_days",
    "hour",
    "tx_last_hour",
    "tx_last_day",
    "amount_last_day",
    "label",
    "strategy",
]
TEXT = ["transaction_id", "account", "merchant_category", "country", "channel", "device"]
TEXT += ["label", "strategy"]


def _events(rng: np.random.Generator, n: int, **columns) -> dict[str, np.ndarray]:
    return {k: np.broadcast_to(np.asarray(v), (n,)).copy() for k, v in columns.items()}


def account_history(seed: int, account: int, cfg) -> pd.DataFrame:
    """Every transaction of one account over collect.transactions.days, fraud included."""
    return _frame(_account_columns(seed, account, cfg))


def _account_columns(seed: int, account: int, cfg) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, 7013, account])
    days = float(cfg.days)
    opened = rng.uniform(-90.0, 0.9 * days)
    start, end = max(0.0, opened), min(days, opened + 20.0 + rng.exponential(60.0))
    low, high = np.log(cfg.tx_per_day)
    n = rng.poisson(np.exp(rng.uniform(low, high)) * max(end - start, 0.0))
    home = rng.choice(len(COUNTRIES), p=HOME_SHARE)
    scale = np.exp(rng.normal(3.0, 0.6))  # the account's typical spend, ~20 a payment
    taste = rng.dirichlet(np.full(len(CATEGORIES), 0.4))
    habits = rng.dirichlet([3.0, 3.0, 2.0, 0.5])  # pos, contactless, online, atm
    own_devices = rng.choice([0, 1, 2, 4], size=2, p=[0.4, 0.4, 0.1, 0.1])
    day = start + rng.uniform(size=n) * (end - start)
    t = np.floor(day) + (rng.choice(24, size=n, p=DIURNAL) + rng.random(n)) / 24
    # What makes fraud hard to tell apart: people travel (any hour, abroad, new
    # merchants), pay tiny amounts (parking, app stores), shop in bursts, change phones.
    span = max(end - start, 0.0)
    trip = start + rng.random() * span if rng.random() < 0.2 else -1e9
    away = (t >= trip) & (t < trip + rng.uniform(2, 10))
    t = np.where(away, np.floor(t) + rng.random(n), t)
    burst = rng.random(n) < (0.3 if rng.random() < 0.2 else 0.0)
    t = np.where(burst, np.roll(t, 1) + rng.uniform(0, 1 / 48, n), t)
    t = np.maximum(t, start)  # the hour of the first day can fall before the opening
    micro = rng.random(n) < 0.03
    new_phone = start + rng.random() * span if rng.random() < 0.15 else 1e9
    channel = rng.choice(len(CHANNELS), size=n, p=habits)
    legit = _events(
        rng,
        n,
        t=t,
        amount=np.round(
            np.where(micro, rng.uniform(0.5, 3.0, n), rng.lognormal(np.log(scale), 0.9, n)), 2
        ),
        category=np.where(micro, 6, rng.choice(len(CATEGORIES), size=n, p=taste)),
        new_merchant=rng.random(n) < np.where(away, 0.6, 0.12),
        country=np.where(
            away | (rng.random(n) < 0.02), (home + 1 + account % 5) % len(COUNTRIES), home
        ),
        channel=channel,
        device=np.where(channel == 2, own_devices[rng.integers(2, size=n)], 3),
        device_t=np.where((channel == 2) & (t > new_phone), new_phone, opened),
        strategy=np.zeros(n, dtype=int),
    )
    parts = [legit]
    for k, name in enumerate(STRATEGIES, start=1):
        share = float(cfg.strategies.get(name, 0.0) or 0.0)
        hit = rng.random() < share  # drawn for every strategy, so shares are independent
        when = rng.uniform(start, end) if end > start else start
        if hit and end > start:
            parts.append(ATTACKS[name](rng, when, scale, home, own_devices, k, opened))
    events = {key: np.concatenate([p[key] for p in parts]) for key in legit}
    order = np.argsort(events["t"], kind="stable")
    events = {key: v[order] for key, v in events.items()}
    return _columns(events, account, opened, cfg)


def _card_testing(rng, t0, scale, home, own, k, opened):
    n = int(rng.integers(3, 12))
    tiny = np.round(rng.uniform(0.5, 5.0, n), 2)
    tiny[-int(rng.integers(1, 3)) :] = np.round(rng.uniform(100, 500, 1), 2)
    return _events(
        rng,
        n,
        t=t0 + np.sort(rng.uniform(0, rng.uniform(1, 6) / 24, n)),
        amount=tiny,
        category=rng.choice([6, 6, 11, 4, 10, 1, 0]),
        new_merchant=rng.random(n) < 0.7,
        country=home if rng.random() < 0.5 else rng.integers(len(COUNTRIES)),
        channel=2,
        device=2 if rng.random() < 0.6 else own[0],
        device_t=t0 if rng.random() < 0.6 else opened,
        strategy=k,
    )


def _account_takeover(rng, t0, scale, home, own, k, opened):
    n = int(rng.integers(2, 7))
    night = np.floor(t0) + (rng.uniform(0, 5) if rng.random() < 0.6 else rng.uniform(0, 24)) / 24
    abroad = (home + rng.integers(1, len(COUNTRIES))) % len(COUNTRIES)
    hijacked = rng.random() < 0.3  # a stolen session on the account's own device
    return _events(
        rng,
        n,
        t=night + np.sort(rng.uniform(0, 12 / 24, n)),
        amount=np.round(scale * rng.uniform(2, 12, n), 2),
        category=np.where(
            rng.random(n) < 0.7,
            rng.choice(RESELLABLE, size=n),
            rng.integers(len(CATEGORIES), size=n),
        ),
        new_merchant=rng.random(n) < 0.6,
        country=abroad if rng.random() < 0.6 else home,
        channel=rng.choice([2, 3], size=n, p=[0.8, 0.2]),
        device=own[0] if hijacked else rng.choice([0, 1, 2]),
        device_t=opened if hijacked else night,
        strategy=k,
    )


def _bust_out(rng, t0, scale, home, own, k, opened):
    n = int(rng.integers(4, 11))
    day = t0 + np.sort(rng.uniform(0, 2, n))
    return _events(
        rng,
        n,
        t=np.floor(day) + (rng.choice(24, size=n, p=DIURNAL) + rng.random(n)) / 24,
        amount=np.round(scale * rng.uniform(3, 8, n), 2),
        category=rng.choice([4, 5, 3], size=n),
        new_merchant=rng.random(n) < 0.5,
        country=home,
        channel=rng.choice([0, 1, 2], size=n),
        device=own[0],
        device_t=opened,
        strategy=k,
    )


ATTACKS = {
    "card_testing": _card_testing,
    "account_takeover": _account_takeover,
    "bust_out": _bust_out,
}


def _columns(events: dict, account: int, opened: float, cfg) -> dict[str, np.ndarray]:
    t, amount = events["t"], events["amount"]
    n = len(t)
    # velocity from the account's own earlier transactions (the current one excluded)
    spent = np.concatenate([[0.0], np.cumsum(amount)])
    idx = np.arange(n)
    hour_ago = np.searchsorted(t, t - 1 / 24, side="right")
    day_ago = np.searchsorted(t, t - 1.0, side="right")
    device = events["device"].astype(int)
    rng = np.random.default_rng([cfg.missing_seed, account])  # missing values: own stream
    no_device = rng.random(n) < cfg.missing.device
    no_country = rng.random(n) < cfg.missing.country
    strategy = np.array(("", *STRATEGIES), dtype=object)[events["strategy"]]
    return {
        "transaction_id": np.array([f"a{account:06d}-{i:05d}" for i in idx], dtype=object),
        "account": np.full(n, f"a{account:06d}", dtype=object),
        "time": EPOCH + np.round(t * 86400).astype("timedelta64[s]"),
        "amount": amount,
        "merchant_category": np.array(CATEGORIES, dtype=object)[events["category"]],
        "merchant_is_new": events["new_merchant"].astype(float),
        "country": np.where(no_country, None, np.array(COUNTRIES, dtype=object)[events["country"]]),
        "channel": np.array(CHANNELS, dtype=object)[events["channel"]],
        "device": np.where(no_device, None, np.array(DEVICES, dtype=object)[device]),
        "device_age_days": np.where(
            no_device, np.nan, np.round(np.maximum(t - events["device_t"], 0), 3)
        ),
        "account_age_days": np.round(t - opened, 3),
        "hour": np.floor((t % 1.0) * 24).astype(float),
        "tx_last_hour": (idx - hour_ago).astype(float),
        "tx_last_day": (idx - day_ago).astype(float),
        "amount_last_day": np.round(spent[idx] - spent[day_ago], 2),
        "label": np.where(events["strategy"] > 0, "fraud", "legit"),
        "strategy": strategy,
    }


def _frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    # one dtype for the text columns whether or not an account has a missing value
    return pd.DataFrame(columns, columns=COLUMNS).astype({c: "str" for c in TEXT})


ACCOUNTS_PER_CHUNK = 2000  # ~57,000 rows: what collect holds at once


def _check(cfg) -> None:
    unknown = set(cfg.strategies) - set(STRATEGIES)
    if unknown:
        raise ValueError(
            f"collect.transactions.strategies: unknown strategy {sorted(unknown)}; "
            f"choose from {list(STRATEGIES)}"
        )


def _accounts(cfg, seed: int, accounts) -> pd.DataFrame:
    # columns of every account joined before one frame is built (a frame per account cost
    # four fifths of the time)
    parts = [_account_columns(seed, a, cfg) for a in accounts]
    table = _frame({c: np.concatenate([p[c] for p in parts]) for c in COLUMNS})
    return table.sort_values(["time", "transaction_id"], kind="stable", ignore_index=True)


def generate(cfg, seed: int) -> pd.DataFrame:
    """The whole table: collect.transactions.accounts accounts, ordered by time."""
    _check(cfg)
    return _accounts(cfg, seed, range(cfg.accounts))


def generate_chunks(cfg, seed: int, per_chunk: int = ACCOUNTS_PER_CHUNK):
    """The same rows as `generate`, `per_chunk` accounts at a time (each chunk ordered by
    time): what collect writes, one chunk in memory at once."""
    _check(cfg)
    for start in range(0, cfg.accounts, per_chunk):
        yield _accounts(cfg, seed, range(start, min(start + per_chunk, cfg.accounts)))
