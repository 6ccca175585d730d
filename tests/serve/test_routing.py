from collections import Counter

from mlcycle.serve.routing import bucket, route


def test_buckets_are_uniform_and_stable():
    keys = [f"user-{i}" for i in range(10_000)]
    counts = Counter(bucket(k) for k in keys)
    assert set(counts) == set(range(100))
    assert max(counts.values()) < 2 * min(counts.values())
    assert [bucket(k) for k in keys[:50]] == [bucket(k) for k in keys[:50]]


def test_weight_sends_its_share_to_the_canary():
    keys = [f"k{i}" for i in range(20_000)]
    share = sum(route(k, 25) == "canary" for k in keys) / len(keys)
    assert 0.23 < share < 0.27
    assert all(route(k, 0) == "stable" for k in keys[:500])
    assert all(route(k, 100) == "canary" for k in keys[:500])


def test_a_key_on_the_canary_stays_there_as_the_weight_rises():
    keys = [f"k{i}" for i in range(5_000)]
    on_canary = {k for k in keys if route(k, 10) == "canary"}
    for weight in (25, 50, 100):
        now = {k for k in keys if route(k, weight) == "canary"}
        assert on_canary <= now
        on_canary = now
