"""Dynamic batching: requests that arrive together run through the model as one batch.

As Triton, TorchServe and Ray Serve do it: the first request of a batch waits up to
`wait_ms` for company, at most `max_batch_size` go together, and the model runs off the
event loop in a worker thread, one batch in flight per model.

A lone request (the only one admitted, nothing queued or running, no `wait_ms`) may run
at once on the event loop instead: two hops (the batching task, the worker thread) cost
more than a sub-millisecond network, and nobody is waiting behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any


class Overloaded(RuntimeError):
    """Every request slot of a model is taken."""


class Batcher:
    """Queue single inputs, run them in batches through `run(inputs) -> outputs`."""

    def __init__(
        self,
        run: Callable[[list[Any]], list[Any]],
        max_batch_size: int,
        wait_ms: float,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"serve.max_batch_size must be at least 1, got {max_batch_size}")
        self.run, self.max_batch_size, self.wait_s = run, max_batch_size, wait_ms / 1000
        self.on_batch = on_batch
        self.queue: asyncio.Queue = asyncio.Queue()
        self.admitted = 0  # requests holding a slot (Batcher.slot): decoding, queued, running
        self.task: asyncio.Task | None = None
        self.busy = False  # a batch is running

    @contextlib.contextmanager
    def slot(self, limit: int):
        """Hold one of `limit` request slots for the block; Overloaded when none is free.
        The server takes a slot before it decodes a request, so a burst beyond what the
        model can answer is refused at once instead of queueing without bound."""
        if self.admitted >= limit:
            raise Overloaded(f"{self.admitted} requests already wait for this model")
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

    def alone(self) -> bool:
        """Nothing but this one admitted request: no batch to join, nobody to delay."""
        return self.wait_s == 0 and not self.busy and self.queue.empty() and self.admitted <= 1

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self, drain_s: float = 30.0) -> None:
        """Stop after the requests already queued are answered (up to `drain_s`): a model
        swapped out by a promotion or rollback finishes what it was given."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_s
        while (self.busy or not self.queue.empty()) and loop.time() < deadline:
            await asyncio.sleep(0.005)
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        while not self.queue.empty():  # nobody will run these any more
            _, future = self.queue.get_nowait()
            if not future.done():
                future.set_exception(RuntimeError("the model was unloaded"))

    async def submit(self, item: Any, inline: bool = False) -> Any:
        """The model's output for one input; raises what the model raised. `inline` lets
        a lone request run on the event loop (for a model trusted not to hang: stable)."""
        if inline and self.alone():
            # Requests read in the same turn of the loop have not reached their slot yet:
            # let them, so that a burst is batched rather than run one by one.
            await asyncio.sleep(0)
        if inline and self.alone():
            self.busy = True
            try:
                if self.on_batch is not None:
                    self.on_batch(1)
                return self.run([item])[0]
            finally:
                self.busy = False
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((item, future))
        return await future

    async def _collect(self) -> list[tuple[Any, asyncio.Future]]:
        batch = [await self.queue.get()]
        self.busy = True  # from here until its answers are out, stop() waits for it
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while len(batch) < self.max_batch_size:
            if not self.queue.empty():
                batch.append(self.queue.get_nowait())
                continue
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), left))
            except TimeoutError:
                break
        return batch

    async def _loop(self) -> None:
        while True:
            batch = await self._collect()
            try:
                await self._run_batch(batch)
            finally:
                self.busy = False

    async def _run_batch(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        live = [(item, f) for item, f in batch if not f.done()]  # clients gone: skip
        if not live:
            return
        items = [item for item, _ in live]
        if self.on_batch is not None:
            self.on_batch(len(items))
        try:
            outputs = await asyncio.to_thread(self.run, items)
        except Exception as e:  # the model failed: every request of the batch learns it
            for _, future in live:
                if not future.done():
                    future.set_exception(e)
            return
        for (_, future), output in zip(live, outputs):
            if not future.done():
                future.set_result(output)
