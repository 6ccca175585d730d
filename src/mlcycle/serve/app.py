"""The HTTP server: predictions, health, models, Prometheus metrics and the canary admin API.

`create_app(stable_path, serve, rollout_path, admin_token)` builds the ASGI app: FastAPI,
and a direct path for predictions (PredictPath); uvicorn runs it (`mlcycle serve`).
Everything a request needs is checked before it reaches a model (mlcycle.serve.inputs),
so bad input is a 4xx naming the problem, never a 5xx.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from mlcycle.models.package import PackageError
from mlcycle.monitor.analysis import summarise
from mlcycle.monitor.store import read_log
from mlcycle.registry import RegistryError
from mlcycle.serve import inputs
from mlcycle.serve.admin import admin_router
from mlcycle.serve.batching import Overloaded
from mlcycle.serve.canary import Outcome, RolloutConflict
from mlcycle.serve.metrics import ServerMetrics
from mlcycle.serve.models import Deployed, checked
from mlcycle.serve.pair import CanaryRefused, ModelPair, PackageOutsideRoots
from mlcycle.serve.recorder import LazyStats, NullRecorder, PredictionRecorder
from mlcycle.serve.settings import plain

log = logging.getLogger("mlcycle.serve")
TICK_S = 1.0  # how often a time-based analysis interval is looked at
# The monitor gauges come from at most this many of the window's newest rows: reading an
# hour of a busy log (1.8 million rows at 500 req/s) every monitor.gauges_s would not do.
GAUGE_ROWS = 20_000
# An oversized body is read to its end (and dropped) up to this much, so that the client
# can read the 413; beyond it the connection is closed.
DRAIN_BYTES = 128 * 2**20


if hasattr(asyncio, "timeout"):  # Python 3.11+: a deadline without a task per request

    async def within(coro: Any, seconds: float) -> Any:
        async with asyncio.timeout(seconds):
            return await coro

else:  # pragma: no cover - Python 3.10
    within = asyncio.wait_for


class Unavailable(Exception):
    """The request was not admitted or not answered in time: a JSON 503 with Retry-After."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class ModelFailed(Exception):
    """No model gave this input a finite probability vector: a JSON 500 `model_failed`."""


class ModelServer:
    """What the app holds: its life cycle, the request path and the monitor gauges. The
    stable/canary pair and its rollout are `pair` (mlcycle.serve.pair); the prediction
    log is `recorder` (a NullRecorder when logging is off)."""

    def __init__(
        self,
        stable_path: str,
        serve: Any,
        rollout_path: str,
        monitor: Any | None = None,
        inputs_dir: str = "models/serving/inputs",
        outages_path: str | None = None,
    ) -> None:
        self.serve, self.metrics = plain(serve), ServerMetrics()
        self.monitor, self.inputs_dir, self.outages_path = plain(monitor), inputs_dir, outages_path
        self.recorder: PredictionRecorder | NullRecorder = NullRecorder()
        self.stable_path = stable_path
        self.pair = ModelPair(self.serve, rollout_path, self.metrics)
        self.ticker: asyncio.Task | None = None
        self.watcher: asyncio.Task | None = None

    # -- life cycle -------------------------------------------------------------------
    async def start(self) -> None:
        await self.pair.start(self.stable_path)
        if self.monitor is not None:
            self.recorder = PredictionRecorder(self.monitor, self.inputs_dir, self.outages_path)
            self.metrics.log_up.set(1 if self.recorder.on else 0)
        # Everything loaded so far lives as long as the server: keep it out of the garbage
        # collector's full passes, which otherwise walk torch's and FastAPI's objects and
        # stall requests (the p99 tail).
        gc.collect()
        gc.freeze()
        loop = asyncio.get_running_loop()
        self.ticker = loop.create_task(self._tick())
        self.watcher = loop.create_task(self._watch()) if self.recorder.on else None

    async def stop(self) -> None:
        for task in (self.ticker, self.watcher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await asyncio.to_thread(self.recorder.close)
        await self.pair.stop()

    async def _tick(self) -> None:
        """Look at the analysis interval once a second (ModelPair.analyse never raises, so
        the loop outlives any failure of it)."""
        while True:
            await asyncio.sleep(TICK_S)
            await self.pair.analyse()

    async def _watch(self) -> None:
        """Refresh the monitor gauges from the log every monitor.gauges_s seconds."""
        while True:
            await asyncio.sleep(self.monitor.gauges_s)
            try:
                summary = await asyncio.to_thread(self._monitor_summary)
            except Exception as e:  # monitoring must never take serving down
                log.warning("monitor gauges not refreshed: %s", e)
                continue
            if summary is not None:
                self.metrics.publish_monitor(summary)

    def _monitor_summary(self) -> dict | None:
        reference = self.pair.stable.package.reference
        if reference is None:
            return None
        since = time.time() - self.monitor.window_s
        frame = read_log(self.monitor.store, since=since, last=GAUGE_ROWS)
        return summarise(frame, reference, self.monitor) if len(frame) else None

    @property
    def stable(self) -> Deployed | None:
        return self.pair.stable

    # -- predictions ----------------------------------------------------------------
    async def predict(self, request: Request) -> Response:
        """A prediction within the server's capacity and the request's deadline: beyond
        serve.max_queue admitted requests, or past serve.request_timeout_s, a JSON 503 with
        Retry-After (what load balancers retry elsewhere), before any decoding."""
        return await self.admitted(request, self._predict)

    async def admitted(self, request: Request, work: Any, *args: Any) -> Response:
        """`work(request, *args)` within the server's capacity and the request's deadline
        (the one admission of /v1/predict and the protocol's infer)."""
        request.state.request_id = os.urandom(16).hex()  # as uuid4().hex, 4x cheaper
        request.state.start = time.perf_counter()
        request.state.version = self.pair.stable.version
        try:
            with self.pair.stable.batcher.slot(self.serve.max_queue):
                return await within(work(request, *args), self.serve.request_timeout_s)
        except Overloaded as e:
            raise Unavailable("overloaded", f"the server is at capacity ({e})") from None
        except TimeoutError:
            detail = f"no answer within serve.request_timeout_s={self.serve.request_timeout_s}"
            raise Unavailable("deadline_exceeded", detail) from None

    async def _predict(self, request: Request) -> Response:
        request_id = request.state.request_id
        key = request.headers.get("x-request-key") or request_id
        route, model = self.pair.route(key)
        request.state.version = model.version
        decoded, stats, data = await self._decode(request, model)
        if isinstance(decoded, inputs.Rows):  # a list of table rows: answered in order
            # one log row and request id each (what `monitor labels` joins labels on)
            answers = await asyncio.gather(
                *(
                    self.answer_one(request, f"{request_id}-{i}", route, model, row, None, None)
                    for i, row in enumerate(decoded)
                )
            )
            elapsed = time.perf_counter() - request.state.start
            predictions = []
            for i, (answer, taken) in enumerate(answers):
                answer.update(model_version=taken.version, request_id=f"{request_id}-{i}")
                predictions.append(answer)
            body = {
                "predictions": predictions,
                "request_id": request_id,
                "latency_ms": round(elapsed * 1000, 3),
            }
            return Response(orjson.dumps(body), media_type="application/json")
        answer, model = await self.answer_one(
            request, request_id, route, model, decoded, stats, data
        )
        route = answer.pop("route")
        elapsed = time.perf_counter() - request.state.start
        answer.update(
            model_version=model.version,
            route=route,
            request_id=request_id,
            latency_ms=round(elapsed * 1000, 3),
        )
        # orjson: every number in it was checked finite (checked), and it writes the
        # answer 5x faster than JSONResponse's json.dumps
        return Response(orjson.dumps(answer), media_type="application/json")

    async def answer_one(
        self,
        request: Request,
        request_id: str,
        route: str,
        model: Deployed,
        decoded: Any,
        stats: LazyStats | None,
        data: bytes | None,
        fallback: bool = True,
    ) -> tuple[dict[str, Any], Deployed]:
        """One input's answer (with its `route`) and the model that gave it: the canary's,
        or stable's where the canary failed (unless `fallback` is off: a client that
        named the canary's version); ModelFailed where none answered. Counted, logged,
        mirrored to the canary and analysed."""
        answer = await self._run(model, route, decoded)
        if answer is None and route == "canary" and fallback:  # stable answers instead
            route, model = "stable", self.pair.stable
            request.state.version = model.version
            answer = await self._run(model, route, decoded)
        # a table row's values for the log (missing shares, drift per column, late labels)
        row = orjson.dumps(decoded).decode() if self.recorder.on and type(decoded) is dict else None
        if answer is None:
            self.metrics.requests.labels(model.version, route, "500").inc()
            self.recorder.record(
                request_id, model.version, route, 500, reason="model_failed", stats=stats, row=row
            )
            raise ModelFailed("the model failed on this input")
        elapsed = time.perf_counter() - request.state.start
        self.metrics.answered(model.version, route, answer["label"], elapsed)
        self.recorder.record(
            request_id,
            model.version,
            route,
            200,
            label=answer["label"],
            confidence=answer["confidence"],
            latency_s=elapsed,
            stats=stats,
            body=data,
            score=answer.get("score"),
            row=row,
        )
        if route == "stable" and self.pair.canary is not None and self._mirror():
            shadow = self._shadow(decoded, answer["label"], request_id, stats)
            asyncio.get_running_loop().create_task(shadow)
        if self.pair.canary is not None:  # no rollout, nothing to analyse
            self.pair.analyse_soon()
        answer["route"] = route
        return answer, model

    async def _decode(self, request: Request, model: Deployed) -> tuple[Any, Any, bytes]:
        """The body decoded with the limits of the model the request is routed to, and its
        statistics for the log (computed by the log's thread, off the request path);
        BadInput names what is wrong with it."""
        data, content_type = await read_body(request, self.serve.max_body_bytes)
        inputs.check_content_type(content_type, model.modality)
        serving, args = model.serving, (data, model.package, self.serve)
        if serving.off_loop(data):  # a large body; a small one decodes faster than a hop
            decoded = await asyncio.to_thread(serving.decode, *args)
        else:
            decoded = serving.decode(*args)
        return decoded, serving.log_stats(decoded) if self.recorder.on else None, data

    def _mirror(self) -> bool:
        return random.random() < self.serve.canary.mirror_fraction

    async def _submit(self, model: Deployed, route: str, decoded: Any) -> list[float]:
        """The model's output; a canary (or its shadow) that takes longer than
        serve.canary.timeout_s has failed (TimeoutError), and stable answers instead."""
        if route == "stable":  # a lone request may run at once, on the event loop
            return await model.batcher.submit(decoded, inline=True)
        return await asyncio.wait_for(model.batcher.submit(decoded), self.serve.canary.timeout_s)

    async def _run(self, model: Deployed, route: str, decoded: Any) -> dict[str, Any] | None:
        """The model's answer (label, confidence, probabilities), or None if it failed
        (raised, timed out, or answered something that is not a finite probability
        vector); the outcome is recorded."""
        start = time.perf_counter()
        try:
            probs = checked(await self._submit(model, route, decoded))
        except Exception as e:  # a broken model must not take the request down with it
            self.metrics.model_failures.labels(model.version, route).inc()
            log.warning("model %s failed on a %s request: %s", model.version, route, e)
            self._record(model, Outcome(route, True, time.perf_counter() - start))
            return None
        answer = self._answer(model, probs)
        self._record(
            model,
            Outcome(
                route, False, time.perf_counter() - start, answer["label"], answer["confidence"]
            ),
        )
        return answer

    async def _shadow(
        self, decoded: Any, stable_label: str, request_id: str, stats: LazyStats | None
    ) -> None:
        """Run a mirrored stable request on the canary; its answer is recorded, not sent."""
        canary = self.pair.canary
        if canary is None:
            return
        start = time.perf_counter()
        try:
            probs = checked(await self._submit(canary, "shadow", decoded))
        except Exception:
            self.metrics.model_failures.labels(canary.version, "shadow").inc()
            self._record(canary, Outcome("shadow", True, time.perf_counter() - start))
            self.recorder.record(
                request_id, canary.version, "shadow", 500, reason="model_failed", stats=stats
            )
            return
        answer = self._answer(canary, probs)
        self.recorder.record(
            request_id,
            canary.version,
            "shadow",
            200,
            label=answer["label"],
            confidence=answer["confidence"],
            latency_s=time.perf_counter() - start,
            stats=stats,
        )
        self._record(
            canary,
            Outcome(
                "shadow",
                False,
                time.perf_counter() - start,
                answer["label"],
                answer["confidence"],
                agrees=answer["label"] == stable_label,
            ),
        )

    def _record(self, model: Deployed, outcome: Outcome) -> None:
        """A model call's outcome, for the rollout's analysis and on /metrics."""
        self.pair.record(outcome)
        self.metrics.outcome(model.version, outcome)

    @staticmethod
    def _answer(model: Deployed, probs: list[float]) -> dict[str, Any]:
        """The answer of a checked probability vector, rounded to 6 places (half up: in
        [0, 1] that is round(p, 6) on every one of 2.4 million float32 probabilities
        tried, at a fifth of its cost; this runs on the event loop for every answer)."""
        labels = model.package.labels
        rounded = [int(p * 1e6 + 0.5) / 1e6 for p in probs]
        decision = model.package.decision
        if decision is None:
            best = probs.index(max(probs))
            return {
                "label": labels[best],
                "confidence": rounded[best],
                "probabilities": dict(zip(labels, rounded)),
            }
        # the package's alert threshold (chosen on val) decides, not the larger probability
        positive = labels.index(decision["positive"])
        alert = probs[positive] >= decision["threshold"]
        others = [i for i in range(len(probs)) if i != positive]
        best = positive if alert else max(others, key=probs.__getitem__)
        return {
            "label": labels[best],
            "confidence": rounded[best],
            "probabilities": dict(zip(labels, rounded)),
            "score": rounded[positive],
            "alert": alert,
            "threshold": decision["threshold"],
        }

    # -- errors as responses --------------------------------------------------------
    def refused(self, request: Request, e: inputs.BadInput) -> JSONResponse:
        """The 4xx for a request the model cannot answer, counted and logged."""
        request_id, version = request.state.request_id, request.state.version  # set by predict
        self.metrics.rejected.labels(e.reason).inc()
        self.metrics.requests.labels(version, "none", str(e.status)).inc()
        self.recorder.record(
            request_id,
            version,
            "none",
            e.status,
            reason=e.reason,
            latency_s=time.perf_counter() - request.state.start,
            stats=e.stats,
        )
        return JSONResponse(
            {"error": e.reason, "detail": e.detail, "request_id": request_id},
            status_code=e.status,
            headers={"Connection": "close"} if e.status == 413 else None,
        )

    def unavailable(self, request: Request, e: Unavailable) -> JSONResponse:
        self.metrics.rejected.labels(e.reason).inc()
        self.metrics.requests.labels(self.pair.stable.version, "none", "503").inc()
        return JSONResponse(
            {"error": e.reason, "detail": e.detail, "request_id": request.state.request_id},
            status_code=503,
            headers={"Retry-After": "1"},
        )


class PredictPath:
    """The ASGI app uvicorn runs: POST /v1/predict straight to ModelServer.predict,
    everything else (and the life cycle) through the FastAPI app.

    The prediction is the one path that carries the traffic; FastAPI's and Starlette's
    layers around it (five middlewares, routing, the request/response wrappers) cost
    10-25 % of the answers/s at 32 clients (in-process A/B, rounds interleaved): the
    event loop's thread, which runs them, is what bounds the answers/s. Errors still
    become responses in one place: error_handlers, looked up as Starlette looks them up
    (the exception's classes in order); anything else is a JSON 500, logged with its
    traceback.
    """

    def __init__(self, app: FastAPI, server: ModelServer) -> None:
        self.app, self.server, self.state = app, server, app.state
        self.handlers = error_handlers(server)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/predict" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self.server.predict(request)
        except Exception as e:
            response = await error_response(self.handlers, request, e)
        # uvicorn writes a response's head and its body to the socket one call each: on
        # loopback each write is a TCP send that wakes the client, 6-7 % of the GIL
        # samples each at 32 clients (py-spy --gil). Held together, they go in one.
        cycle = getattr(send, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is None or not hasattr(transport, "write"):
            await response(scope, receive, send)
            return
        cycle.transport = held = OneWrite(transport)
        try:
            await response(scope, receive, send)
        finally:
            held.flush()
            cycle.transport = transport


class OneWrite:
    """A transport that holds the first write (a response's head) until the next one (its
    body), and writes both in one call; anything else asked of it sends what it holds
    first. Stands in for uvicorn's transport (its protocols keep it as
    `RequestResponseCycle.transport`, and write the head and the body separately)."""

    __slots__ = ("transport", "head")

    def __init__(self, transport: Any) -> None:
        self.transport, self.head = transport, None

    def write(self, data: bytes) -> None:
        if self.head is None:
            self.head = data
            return
        self.transport.write(self.head + data)
        self.head = b""  # written: what follows goes straight through

    def flush(self) -> None:
        if self.head:
            self.transport.write(self.head)
        self.head = b""

    def __getattr__(self, name: str) -> Any:
        self.flush()
        return getattr(self.transport, name)


async def error_response(handlers: dict, request: Request, e: Exception) -> Response:
    """The response of `e` by `handlers` (error_handlers), looked up as Starlette looks
    them up: the exception's classes in order; anything else a JSON 500, logged."""
    for cls in type(e).__mro__:
        if cls in handlers:
            return await handlers[cls](request, e)
    log.exception("request %s failed", getattr(request.state, "request_id", None))
    body = {"error": "internal", "detail": f"{type(e).__name__}: {e}"}
    return JSONResponse(body, status_code=500)


class UnknownModel(LookupError):
    """A model name or version this server does not serve (404)."""


def error_handlers(server: ModelServer) -> dict[type[Exception], Any]:
    """Every error a handler raises becomes its response here, in one place."""

    def detail(status: int) -> Any:
        async def handle(_: Request, e: Exception) -> JSONResponse:
            return JSONResponse({"detail": str(e)}, status_code=status)

        return handle

    async def bad_input(request: Request, e: inputs.BadInput) -> JSONResponse:
        return server.refused(request, e)

    async def unavailable(request: Request, e: Unavailable) -> JSONResponse:
        return server.unavailable(request, e)

    async def model_failed(request: Request, e: ModelFailed) -> JSONResponse:
        body = {"error": "model_failed", "detail": str(e), "request_id": request.state.request_id}
        return JSONResponse(body, status_code=500)

    return {
        inputs.BadInput: bad_input,
        Unavailable: unavailable,
        ModelFailed: model_failed,
        RolloutConflict: detail(409),
        CanaryRefused: detail(409),
        PackageOutsideRoots: detail(403),
        PackageError: detail(422),
        UnknownModel: detail(404),
        RegistryError: detail(404),
    }


async def too_large(request: Request, detail: str) -> inputs.BadInput:
    """The 413 for an oversized body, after reading (and dropping) the rest of it, up to
    DRAIN_BYTES: a client sends its whole body before it reads the answer, and a server
    that closes the connection first leaves it with a reset instead of the 413."""
    drained = 0
    async for chunk in request.stream():
        drained += len(chunk)
        if drained > DRAIN_BYTES:
            break
    return inputs.BadInput(413, "too_large", detail)


async def read_body(request: Request, limit: int) -> tuple[bytes, str | None]:
    """The uploaded file's bytes and Content-Type: the raw body, or multipart field 'file'.
    The body is read from the ASGI messages themselves (Request.stream's async generator
    and Headers' scans cost the event loop more than the reading)."""
    # ASGI: lower-case names, latin-1 bytes; reversed, a repeated header's first value
    # wins, as in Starlette's Headers
    headers = dict(reversed(request.scope["headers"]))
    declared = headers.get(b"content-length", b"").decode("latin-1")
    if declared and declared.isdigit() and int(declared) > limit:
        detail = f"body of {declared} bytes exceeds serve.max_body_bytes={limit}"
        raise await too_large(request, detail)
    chunks, size = [], 0
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk, more = message.get("body", b""), message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            detail = f"body exceeds serve.max_body_bytes={limit} bytes"
            if not more:  # read to its end already
                raise inputs.BadInput(413, "too_large", detail)
            raise await too_large(request, detail)
        chunks.append(chunk)
        if not more:
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    content_type = headers.get(b"content-type")
    content_type = content_type.decode("latin-1") if content_type is not None else None
    if not (content_type or "").lower().startswith("multipart/form-data"):
        return body, content_type

    async def replay() -> AsyncIterator[bytes]:
        yield body

    parser = MultiPartParser(
        Headers(raw=request.headers.raw), replay(), max_files=1, max_fields=10, max_part_size=limit
    )
    try:
        form = await parser.parse()
    except MultiPartException as e:
        raise inputs.BadInput(
            400, "bad_multipart", f"cannot parse the multipart body: {e.message}"
        ) from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise inputs.BadInput(400, "no_file", "the multipart body has no file field named 'file'")
    data = await upload.read()
    return data, upload.content_type or "application/octet-stream"


def create_app(
    stable_path: str,
    serve: Any,
    rollout_path: str,
    admin_token: str | None = None,
    monitor: Any | None = None,
    inputs_dir: str = "models/serving/inputs",
    outages_path: str | None = None,
) -> PredictPath:
    """The ASGI app (FastAPI's, and the fast prediction path) serving the package at
    `stable_path` (resumes a saved rollout); every request is logged to monitor.store when
    `monitor` is given (and a time without a log recorded at `outages_path`)."""
    server = ModelServer(stable_path, serve, rollout_path, monitor, inputs_dir, outages_path)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            await server.start()
        except PackageError as e:
            log.error("cannot serve: %s", e)
            raise
        yield
        await server.stop()

    app = FastAPI(title="mlcycle", lifespan=lifespan, exception_handlers=error_handlers(server))
    app.state.server = server

    # Served by PredictPath; the route stays for what FastAPI answers about it (405 to
    # another method) and as a plain Starlette route: FastAPI's dependency solving around
    # an endpoint that takes the Request and returns a Response cost ~10 % of answers/s.
    app.router.add_route("/v1/predict", server.predict, methods=["POST"])

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        if server.stable is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse({"status": "ready", "model_version": server.stable.version})

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return server.pair.describe()

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(server.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    from mlcycle.serve.protocol import v2_router  # it builds on this module

    app.include_router(v2_router(server))
    if admin_token:
        app.include_router(admin_router(server, admin_token))
    return PredictPath(app, server)
