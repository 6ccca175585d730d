"""PredictPath: POST /v1/predict straight to the server, everything else through FastAPI;
an error nobody handles is a JSON 500, never Starlette's plain-text one."""

import asyncio
import logging

import httpx
from fastapi import FastAPI

from mlcycle.serve.app import PredictPath


class Broken:
    """A server whose prediction fails with an error no handler knows."""

    async def predict(self, request):
        request.state.request_id = "r1"
        raise KeyError("a bug")


def call(app, method: str, path: str) -> httpx.Response:
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.request(method, path, content=b"x")

    return asyncio.run(go())


def test_an_unhandled_error_is_a_json_500_and_logged(caplog):
    app = FastAPI()
    with caplog.at_level(logging.ERROR, logger="mlcycle.serve"):
        r = call(PredictPath(app, Broken()), "POST", "/v1/predict")
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert r.json() == {"error": "internal", "detail": "KeyError: 'a bug'"}
    assert "request r1 failed" in caplog.text and "KeyError" in caplog.text


def test_other_paths_and_methods_are_fastapis():
    app = FastAPI()

    @app.get("/v1/predict")
    async def listing():
        return {"from": "fastapi"}

    path = PredictPath(app, Broken())
    assert call(path, "GET", "/v1/predict").json() == {"from": "fastapi"}
    assert call(path, "GET", "/nowhere").status_code == 404
