"""The HTTP server: predictions, health, models, Prometheus metrics and the canary admin API.

`create_app(stable_path, serve, rollout_path, admin_token)` builds the FastAPI app; uvicorn
runs it (`mlcycle serve`). Everything a request needs is checked before it reaches a model
(mlcycle.serve.inputs), so bad input is a 4xx naming the problem, never a 5xx.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from mlcycle.models.package import PackageError
from mlcycle.monitor.analysis import summarise
from mlcycle.monitor.store import read_log
from mlcycle.serve import inputs, routing
from mlcycle.serve.admin import admin_router
from mlcycle.serve.batching import Overloaded
from mlcycle.serve.canary import (
    IDLE,
    PROGRESSING,
    PROMOTED,
    ROLLED_BACK,
    CanaryController,
    Outcome,
)
from mlcycle.serve.metrics import ServerMetrics
from mlcycle.serve.models import Deployed, checked, deploy
from mlcycle.serve.recorder import PredictionRecorder

log = logging.getLogger("mlcycle.serve")
TICK_S = 1.0  # how often a time-based analysis interval is looked at
# Bodies up to this size are decoded on the event loop (a 1 s WAV in ~0.1 ms: less than
# handing it to a thread costs); larger ones in a worker thread, not to stall the loop.
INLINE_DECODE_BYTES = 256_000
# An oversized body is read to its end (and dropped) up to this much, so that the client
# can read the 413; beyond it the connection is closed.
DRAIN_BYTES = 128 * 2**20


class PackageOutsideRoots(PermissionError):
    """The admin API was asked to load a package from outside serve.package_roots."""


class ModelServer:
    """What the app holds: the stable model, the canary, the rollout and the metrics."""

    def __init__(
        self,
        stable_path: str,
        serve: Any,
        rollout_path: str,
        monitor: Any | None = None,
        inputs_dir: str = "models/serving/inputs",
    ) -> None:
        self.serve, self.metrics = serve, ServerMetrics()
        self.monitor = monitor
        self.recorder: PredictionRecorder | None = None
        self.inputs_dir = inputs_dir
        self.controller = CanaryController(serve.canary, rollout_path)
        self.stable_path = stable_path
        self.stable: Deployed | None = None
        self.canary: Deployed | None = None
        self.analysing: asyncio.Task | None = None

    # -- life cycle -------------------------------------------------------------------
    async def start(self) -> None:
        path = self.stable_path
        if self.controller.load() and self.controller.status != IDLE:
            # what the rollouts left serving: a promoted model stays stable through a
            # later canary's rollback, and through every restart
            path = self.controller.state["stable"]["path"]
            log.info(
                "resuming the rollout in %s (%s): stable is %s; delete the file to serve %s",
                self.controller.path,
                self.controller.status,
                path,
                self.stable_path,
            )
        self.stable = self._deploy(path)
        self.controller.set_stable(self._model_record(self.stable))
        if self.controller.status == PROGRESSING:
            self.canary = self._deploy(self.controller.state["canary"]["path"])
            log.info("resumed the rollout of %s at %d %%", self.canary.version, self.weight)
        self._publish_weight()
        # Everything loaded so far lives as long as the server: keep it out of the garbage
        # collector's full passes, which otherwise walk torch's and FastAPI's objects and
        # stall requests (the p99 tail).
        if self.monitor is not None:
            self.recorder = PredictionRecorder(self.monitor, self.inputs_dir)
            self.metrics.log_up.set(1 if self.recorder.on else 0)
        gc.collect()
        gc.freeze()
        loop = asyncio.get_running_loop()
        self.ticker = loop.create_task(self._tick())
        self.watcher = loop.create_task(self._watch()) if self.recording else None

    @property
    def recording(self) -> bool:
        return self.recorder is not None and self.recorder.on

    async def stop(self) -> None:
        for task in (self.ticker, self.watcher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.recorder is not None:
            await asyncio.to_thread(self.recorder.close)
        for model in (self.stable, self.canary):
            if model is not None:
                await model.batcher.stop()

    def _deploy(self, path: str) -> Deployed:
        model = deploy(path, self.serve, self.metrics)
        model.batcher.start()
        return model

    def _model_record(self, model: Deployed, forced: bool = False) -> dict[str, Any]:
        return {"path": model.path, "version": model.version, "forced": forced}

    @property
    def weight(self) -> int:
        return self.controller.weight if self.canary is not None else 0

    @property
    def modality(self) -> str:
        return self.stable.package.card["modality"]

    def _publish_weight(self) -> None:
        self.metrics.canary_weight.set(self.weight / 100)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            await self.analyse()

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
        reference = self.stable.package.reference
        if reference is None:
            return None
        since = time.time() - self.monitor.window_s
        frame = read_log(self.monitor.store, since=since)
        return summarise(frame, reference, self.monitor) if len(frame) else None

    # -- rollout --------------------------------------------------------------------
    async def analyse(self) -> None:
        """Let the controller judge the interval and apply its decision. Never raises, so
        neither a prediction nor the ticker fails with it (a failed save of the state is
        the controller's `save_error`, shown on /v1/models)."""
        try:
            if self.controller.analyse() is not None:
                await self.apply_rollout()
        except Exception:
            log.exception("rollout analysis failed")

    def _analyse_soon(self) -> None:
        """Analyse after the response, off the request's path (a promotion drains the old
        model's queue, which no request should wait for)."""
        if self.analysing is None or self.analysing.done():
            self.analysing = asyncio.get_running_loop().create_task(self.analyse())

    async def apply_rollout(self) -> None:
        """Make the models match the controller's state after a decision."""
        status = self.controller.status
        if self.canary is not None and status == PROMOTED:
            old, self.stable, self.canary = self.stable, self.canary, None
            self.stable_path = self.stable.path
            await old.batcher.stop()
            log.info("promoted %s: it now serves every request", self.stable.version)
        elif self.canary is not None and status == ROLLED_BACK:
            old, self.canary = self.canary, None
            await old.batcher.stop()
            log.info("rolled back %s", old.version)
        self._publish_weight()

    async def start_canary(self, path: str, force: bool) -> Deployed:
        from mlcycle.serve.models import refusal

        if self.controller.status == PROGRESSING:
            raise RuntimeError(
                f"canary {self.canary.version} is still rolling out: promote or roll it back"
            )
        roots = [Path(root).resolve() for root in self.serve.package_roots]
        if not any(Path(path).resolve().is_relative_to(root) for root in roots):
            raise PackageOutsideRoots(
                f"{path} is not under serve.package_roots {list(self.serve.package_roots)}"
            )
        candidate = await asyncio.to_thread(deploy, path, self.serve, self.metrics)
        why = refusal(self.stable.package, candidate.package)
        if why and not force:
            raise PermissionError(f"canary {path} refused: {why} (force it with force=true)")
        candidate.batcher.start()
        self.canary = candidate
        self.controller.start(self._model_record(candidate, forced=bool(why)))
        self._publish_weight()
        log.info("canary %s started at %d %%", candidate.version, self.weight)
        return candidate

    # -- predictions ----------------------------------------------------------------
    async def predict(self, request: Request) -> JSONResponse:
        """A prediction within the server's capacity and the request's deadline: beyond
        serve.max_queue admitted requests, or past serve.request_timeout_s, a JSON 503 with
        Retry-After (what load balancers retry elsewhere), before any decoding."""
        try:
            with self.stable.batcher.slot(self.serve.max_queue):
                timeout = self.serve.request_timeout_s
                return await asyncio.wait_for(self._predict(request), timeout)
        except Overloaded as e:
            return self._unavailable("overloaded", f"the server is at capacity ({e})")
        except TimeoutError:
            detail = f"no answer within serve.request_timeout_s={self.serve.request_timeout_s}"
            return self._unavailable("deadline_exceeded", detail)

    def _unavailable(self, reason: str, detail: str) -> JSONResponse:
        self.metrics.rejected.labels(reason).inc()
        self.metrics.requests.labels(self.stable.version, "none", "503").inc()
        return JSONResponse(
            {"error": reason, "detail": detail}, status_code=503, headers={"Retry-After": "1"}
        )

    async def _predict(self, request: Request) -> JSONResponse:
        start = time.perf_counter()
        request_id = uuid.uuid4().hex
        key = request.headers.get("x-request-key") or request_id
        try:
            data, content_type = await read_body(request, self.serve.max_body_bytes)
            inputs.check_content_type(content_type, self.modality)
            args = (data, self.modality, self.serve, self.max_pixels, self.recording)
            if len(data) <= INLINE_DECODE_BYTES:  # a clip decodes faster than a thread hop
                decoded, stats = inputs.decode_with_stats(*args)
            else:
                decoded, stats = await asyncio.to_thread(inputs.decode_with_stats, *args)
        except inputs.BadInput as e:
            self.metrics.rejected.labels(e.reason).inc()
            self.metrics.requests.labels(self.stable.version, "none", str(e.status)).inc()
            if self.recording:
                self.recorder.record(
                    request_id,
                    self.stable.version,
                    "none",
                    e.status,
                    reason=e.reason,
                    latency_s=time.perf_counter() - start,
                    stats=e.stats,
                )
            return JSONResponse(
                {"error": e.reason, "detail": e.detail, "request_id": request_id},
                status_code=e.status,
                headers={"Connection": "close"} if e.status == 413 else None,
            )
        route = routing.route(key, self.weight) if self.canary is not None else "stable"
        model = self.canary if route == "canary" else self.stable
        probs = await self._run(model, route, decoded)
        if probs is None and route == "canary":  # the canary failed: stable answers
            route, model = "stable", self.stable
            probs = await self._run(model, route, decoded)
        if probs is None:
            self.metrics.requests.labels(model.version, route, "500").inc()
            if self.recording:
                self.recorder.record(
                    request_id, model.version, route, 500, reason="model_failed", stats=stats
                )
            return JSONResponse(
                {
                    "error": "model_failed",
                    "detail": "the model failed on this input",
                    "request_id": request_id,
                },
                status_code=500,
            )
        answer = self._answer(model, probs)
        elapsed = time.perf_counter() - start
        self.metrics.requests.labels(model.version, route, "200").inc()
        self.metrics.duration.labels(route).observe(elapsed)
        self.metrics.predictions.labels(model.version, answer["label"]).inc()
        if self.recording:
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
            )
        if route == "stable" and self.canary is not None and self._mirror():
            shadow = self._shadow(decoded, answer["label"], request_id, stats)
            asyncio.get_running_loop().create_task(shadow)
        self._analyse_soon()
        return JSONResponse(
            {
                **answer,
                "model_version": model.version,
                "route": route,
                "request_id": request_id,
                "latency_ms": round(elapsed * 1000, 3),
            }
        )

    @property
    def max_pixels(self) -> int | None:
        return getattr(self.stable.package.featurizer.cfg, "max_pixels", None)

    def _mirror(self) -> bool:
        return random.random() < self.serve.canary.mirror_fraction

    async def _submit(self, model: Deployed, route: str, decoded: Any) -> list[float]:
        """The model's output; a canary (or its shadow) that takes longer than
        serve.canary.timeout_s has failed (TimeoutError), and stable answers instead."""
        if route == "stable":
            return await model.batcher.submit(decoded)
        return await asyncio.wait_for(model.batcher.submit(decoded), self.serve.canary.timeout_s)

    async def _run(self, model: Deployed, route: str, decoded: Any) -> list[float] | None:
        """The model's probabilities, or None if it raised; the outcome is recorded."""
        start = time.perf_counter()
        try:
            probs = checked(await self._submit(model, route, decoded))
        except Exception as e:  # a broken model must not take the request down with it
            self.metrics.model_failures.labels(model.version, route).inc()
            log.warning("model %s failed on a %s request: %s", model.version, route, e)
            self.controller.record(Outcome(route, True, time.perf_counter() - start))
            return None
        answer = self._answer(model, probs)
        self.controller.record(
            Outcome(
                route, False, time.perf_counter() - start, answer["label"], answer["confidence"]
            )
        )
        return probs

    async def _shadow(
        self, decoded: Any, stable_label: str, request_id: str, stats: dict | None
    ) -> None:
        """Run a mirrored stable request on the canary; its answer is recorded, not sent."""
        canary = self.canary
        if canary is None:
            return
        start = time.perf_counter()
        try:
            probs = checked(await self._submit(canary, "shadow", decoded))
        except Exception:
            self.metrics.model_failures.labels(canary.version, "shadow").inc()
            self.controller.record(Outcome("shadow", True, time.perf_counter() - start))
            if self.recording:
                self.recorder.record(
                    request_id, canary.version, "shadow", 500, reason="model_failed", stats=stats
                )
            return
        answer = self._answer(canary, probs)
        if self.recording:
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
        self.controller.record(
            Outcome(
                "shadow",
                False,
                time.perf_counter() - start,
                answer["label"],
                answer["confidence"],
                agrees=answer["label"] == stable_label,
            )
        )

    @staticmethod
    def _answer(model: Deployed, probs: list[float]) -> dict[str, Any]:
        labels = model.package.labels
        best = max(range(len(probs)), key=probs.__getitem__)
        return {
            "label": labels[best],
            "confidence": round(probs[best], 6),
            "probabilities": {label: round(p, 6) for label, p in zip(labels, probs)},
        }

    def describe(self) -> dict[str, Any]:
        state = self.controller.state
        canary = None
        if self.canary is not None:
            canary = {**self.canary.describe(), "weight": self.weight, "step": state["step"]}
        return {
            "stable": self.stable.describe(),
            "canary": canary,
            "rollout": {
                "status": state["status"],
                "weight": self.weight,
                "step": state["step"],
                "steps": list(self.serve.canary.steps),
                "failed_intervals": state["failed_intervals"],
                "last_canary": state["canary"],
                "history": state["history"],
                "save_error": self.controller.save_error,
            },
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
    """The uploaded file's bytes and Content-Type: the raw body, or multipart field 'file'."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        detail = f"body of {declared} bytes exceeds serve.max_body_bytes={limit}"
        raise await too_large(request, detail)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            detail = f"body exceeds serve.max_body_bytes={limit} bytes"
            raise await too_large(request, detail)
        chunks.append(chunk)
    body = b"".join(chunks)
    content_type = request.headers.get("content-type")
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
) -> FastAPI:
    """The FastAPI app serving the package at `stable_path` (resumes a saved rollout);
    every request is logged to monitor.store when `monitor` is given."""
    server = ModelServer(stable_path, serve, rollout_path, monitor, inputs_dir)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            await server.start()
        except PackageError as e:
            log.error("cannot serve: %s", e)
            raise
        yield
        await server.stop()

    app = FastAPI(title="mlcycle", lifespan=lifespan)
    app.state.server = server

    @app.post("/v1/predict")
    async def predict(request: Request) -> JSONResponse:
        return await server.predict(request)

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
        return server.describe()

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(server.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if admin_token:
        app.include_router(admin_router(server, admin_token))
    return app
