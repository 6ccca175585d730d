import asyncio
import threading

import pytest

from mlcycle.serve.batching import Batcher


def run(coro):
    return asyncio.run(coro)


def test_requests_that_arrive_together_run_as_one_batch():
    sizes = []

    async def main():
        batcher = Batcher(lambda xs: [x * 2 for x in xs], 8, 50, on_batch=sizes.append)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit(i) for i in range(20)))
        await batcher.stop()
        return results

    assert run(main()) == [i * 2 for i in range(20)]
    assert sum(sizes) == 20 and max(sizes) == 8 and len(sizes) == 3


def test_a_lone_request_waits_at_most_the_batch_wait():
    async def main():
        batcher = Batcher(lambda xs: xs, 32, 20)
        batcher.start()
        loop = asyncio.get_running_loop()
        start = loop.time()
        await batcher.submit("x")
        waited = loop.time() - start
        await batcher.stop()
        return waited

    assert run(main()) < 1.0  # 20 ms wait; generous for a loaded machine


def test_a_failing_model_fails_every_request_of_its_batch_and_goes_on():
    calls = []

    def model(xs):
        calls.append(list(xs))
        if "bad" in xs:
            raise RuntimeError("broken input")
        return xs

    async def main():
        batcher = Batcher(model, 4, 30)
        batcher.start()
        first = await asyncio.gather(
            batcher.submit("bad"), batcher.submit("ok"), return_exceptions=True
        )
        later = await batcher.submit("fine")
        await batcher.stop()
        return first, later

    first, later = run(main())
    assert all(isinstance(r, RuntimeError) for r in first)
    assert later == "fine"


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="max_batch_size"):
        Batcher(lambda xs: xs, 0, 5)


def test_a_lone_request_runs_on_the_event_loop_and_a_burst_still_shares_batches():
    """With no batch wait, a request alone in the server skips the two hops (batching
    task, worker thread); requests read in the same turn of the loop are batched."""
    threads, sizes = [], []

    def model(xs):
        threads.append(threading.get_ident())
        return [x * 2 for x in xs]

    async def request(batcher, x):
        with batcher.slot(64):  # what the server holds from reading to answering
            return await batcher.submit(x, inline=True)

    async def main():
        batcher = Batcher(model, 32, 0, on_batch=sizes.append)
        batcher.start()
        lone = await request(batcher, 1)
        burst = await asyncio.gather(*(request(batcher, i) for i in range(8)))
        await batcher.stop()
        return lone, burst

    lone, burst = run(main())
    assert lone == 2 and burst == [i * 2 for i in range(8)]
    assert threads[0] == threading.get_ident()  # the lone one: on the loop's own thread
    assert sizes[0] == 1 and max(sizes[1:]) > 1  # the burst: batched, not one by one
    assert all(t != threading.get_ident() for t in threads[1:])  # ...in the worker thread
