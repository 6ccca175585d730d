"""The Open Inference Protocol (v2: KServe's, Triton's and MLServer's) beside /v1.

    GET  /v2                                         server metadata
    GET  /v2/health/live, /v2/health/ready           liveness, readiness
    GET  /v2/models/{name}[/versions/{v}]            model metadata: inputs, outputs, versions
    GET  /v2/models/{name}[/versions/{v}]/ready      model readiness
    POST /v2/models/{name}[/versions/{v}]/infer      an inference request

The model's name is the package's task (`keywords`); its versions are the stable model's
and, during a rollout, the canary's. Without a version an inference request is routed
as /v1/predict routes it (sticky by `X-Request-Key`, by the canary's weight, stable
answering where the canary fails); with one it goes to that model, and a failure of that
model is the client's 500 (KServe cannot address a canary at all). Both go through the
same admission, limits, batching, log and rollout analysis as /v1/predict: the protocol
is another way in, not another server.

Inputs (mlcycle.serve.tensors; each modality's serving part decodes them): one BYTES
tensor of encoded files (audio, images), each element one input; or the decoded form
(FP32 samples [clips, samples] for audio at the package's rate, UINT8 pixels [n, h, w(,
c)] for images); for tables one [rows] tensor per field. Outputs: `label` (BYTES),
`confidence` (FP32), `probabilities` (FP32 [n, classes]), and for a model with an alert
threshold `score` (FP32) and `alert` (BOOL). Errors are the protocol's `{"error": "..."}`
with the status /v1 gives the same problem.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from mlcycle import __version__
from mlcycle.serve.app import ModelServer, UnknownModel, error_handlers, error_response, read_body
from mlcycle.serve.models import Deployed
from mlcycle.serve.tensors import HEADER, InferRequest, Output, encode_response, parse_request

# Bodies larger than this are parsed and decoded in a worker thread, not on the event loop.
INLINE_BYTES = 256_000


def model_name(server: ModelServer) -> str:
    return server.stable.package.card["task"]


def versions(server: ModelServer) -> list[str]:
    models = [server.pair.stable, server.pair.canary]
    return [m.version for m in models if m is not None]


def addressed(server: ModelServer, name: str, version: str | None, key: str) -> tuple:
    """(route, model, fallback) for a request to model `name` at `version` (None: the
    rollout routes it by `key`); UnknownModel names what this server serves instead."""
    if name != model_name(server):
        raise UnknownModel(f"no model {name!r}: this server serves {model_name(server)!r}")
    if version is None:
        route, model = server.pair.route(key)
        return route, model, True
    if version == server.pair.stable.version:
        return "stable", server.pair.stable, False
    if server.pair.canary is not None and version == server.pair.canary.version:
        return "canary", server.pair.canary, False
    raise UnknownModel(f"model {name!r} has no version {version!r}: it serves {versions(server)}")


def outputs_of(model: Deployed, answers: list[dict[str, Any]]) -> list[Output]:
    n, labels = len(answers), model.package.labels
    outputs = [
        Output("label", "BYTES", [n], [a["label"] for a in answers]),
        Output("confidence", "FP32", [n], [a["confidence"] for a in answers]),
        Output(
            "probabilities",
            "FP32",
            [n, len(labels)],
            [a["probabilities"][label] for a in answers for label in labels],
        ),
    ]
    if model.package.decision is not None:
        outputs += [
            Output("score", "FP32", [n], [a["score"] for a in answers]),
            Output("alert", "BOOL", [n], [a["alert"] for a in answers]),
        ]
    return outputs


def metadata(server: ModelServer, model: Deployed) -> dict[str, Any]:
    labels = model.package.labels
    outputs = [
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
        {"name": "confidence", "datatype": "FP32", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(labels)]},
    ]
    if model.package.decision is not None:
        outputs += [
            {"name": "score", "datatype": "FP32", "shape": [-1]},
            {"name": "alert", "datatype": "BOOL", "shape": [-1]},
        ]
    return {
        "name": model_name(server),
        "versions": versions(server),
        "platform": f"mlcycle_{model.describe()['runtime']}",
        "inputs": model.serving.tensor_inputs(model.package),
        "outputs": outputs,
        "parameters": {"labels": labels, "modality": model.modality},
    }


async def infer(server: ModelServer, request: Request, name: str, version: str | None) -> Response:
    """One inference request (run under ModelServer.admitted)."""
    request_id = request.state.request_id
    key = request.headers.get("x-request-key") or request_id
    route, model, fallback = addressed(server, name, version, key)
    request.state.version = model.version
    data, _ = await read_body(request, server.serve.max_body_bytes)
    serving, header = model.serving, request.headers.get(HEADER)

    def decode() -> tuple[InferRequest, list]:
        parsed = parse_request(data, header)
        return parsed, serving.from_tensors(parsed.inputs, model.package, server.serve)

    if len(data) > INLINE_BYTES:
        parsed, items = await asyncio.to_thread(decode)
    else:
        parsed, items = decode()
    single = len(items) == 1
    results = await asyncio.gather(
        *(
            server.answer_one(
                request,
                request_id if single else f"{request_id}-{i}",
                route,
                model,
                decoded,
                serving.log_stats(decoded) if server.recorder.on else None,
                body,
                fallback=fallback,
            )
            for i, (decoded, body) in enumerate(items)
        )
    )
    answers = [answer for answer, _ in results]
    answered = sorted({taken.version for _, taken in results})
    head = {
        "model_name": name,
        "model_version": answered[0] if len(answered) == 1 else ",".join(answered),
        "id": parsed.id if parsed.id is not None else request_id,
        "parameters": {"request_id": request_id, "routes": [a["route"] for a in answers]},
    }
    body, headers = encode_response(head, outputs_of(results[0][1], answers), parsed)
    media = "application/octet-stream" if headers else "application/json"
    return Response(body, media_type=media, headers=headers)


def v2_router(server: ModelServer) -> APIRouter:
    """The protocol's routes; every error is `{"error": "..."}` with /v1's status."""
    router = APIRouter(prefix="/v2")
    handlers = error_handlers(server)

    async def protocol_error(request: Request, e: Exception) -> Response:
        if not hasattr(request.state, "request_id"):  # refused before admission
            request.state.request_id = None
            request.state.start = 0.0
            request.state.version = server.stable.version if server.stable else "none"
        response = await error_response(handlers, request, e)
        body = orjson.loads(response.body)
        parts = [body.get("error"), body.get("detail")]
        message = ": ".join(str(p) for p in parts if p)
        headers = {k: v for k, v in response.headers.items() if k.lower() == "retry-after"}
        return JSONResponse({"error": message}, status_code=response.status_code, headers=headers)

    def model_of(name: str, version: str | None) -> Deployed:
        return addressed(server, name, version, "")[1]

    @router.get("")
    async def server_metadata() -> dict[str, Any]:
        return {"name": "mlcycle", "version": __version__, "extensions": ["binary_tensor_data"]}

    @router.get("/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @router.get("/health/ready")
    async def ready() -> JSONResponse:
        up = server.stable is not None
        return JSONResponse({"ready": up}, status_code=200 if up else 503)

    async def guarded(request: Request, work: Any) -> Response:
        try:
            return await work()
        except Exception as e:
            return await protocol_error(request, e)

    @router.get("/models/{name}")
    @router.get("/models/{name}/versions/{version}")
    async def model_metadata(request: Request, name: str, version: str | None = None) -> Response:
        async def work() -> Response:
            return JSONResponse(metadata(server, model_of(name, version)))

        return await guarded(request, work)

    @router.get("/models/{name}/ready")
    @router.get("/models/{name}/versions/{version}/ready")
    async def model_ready(request: Request, name: str, version: str | None = None) -> Response:
        async def work() -> Response:
            model_of(name, version)
            return JSONResponse({"name": name, "ready": True})

        return await guarded(request, work)

    @router.post("/models/{name}/infer")
    @router.post("/models/{name}/versions/{version}/infer")
    async def model_infer(request: Request, name: str, version: str | None = None) -> Response:
        async def work() -> Response:
            return await server.admitted(request, lambda r: infer(server, r, name, version))

        return await guarded(request, work)

    return router
