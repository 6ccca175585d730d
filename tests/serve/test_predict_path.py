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


class Answers:
    """A server whose prediction answers at once."""

    async def predict(self, request):
        from starlette.responses import Response

        return Response(b'{"label":"yes"}', media_type="application/json")


class Transport:
    """What uvicorn writes to the socket, one entry per write."""

    def __init__(self):
        self.writes = []

    def write(self, data):
        self.writes.append(bytes(data))

    def is_closing(self):
        return False


def test_a_prediction_reaches_the_socket_in_one_write():
    """uvicorn's own request cycle (httptools) writes the head and the body separately;
    through PredictPath they go to the transport as one write, the same bytes."""
    from uvicorn.protocols.http.flow_control import FlowControl
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

    async def go(transport):
        scope = {"type": "http", "method": "POST", "path": "/v1/predict", "headers": []}
        cycle = RequestResponseCycle(
            scope, transport, FlowControl(transport), logging.getLogger("t"),
            logging.getLogger("t"), False, [], asyncio.Event(), False, True, lambda: None,
        )  # fmt: skip
        cycle.more_body = False
        await PredictPath(FastAPI(), Answers())(scope, cycle.receive, cycle.send)
        assert cycle.transport is transport and cycle.response_complete

    one = Transport()
    asyncio.run(go(one))
    assert len(one.writes) == 1
    head, body = one.writes[0].split(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length: 15" in head
    assert body == b'{"label":"yes"}'


def test_the_body_and_the_first_of_repeated_headers_are_read_as_starlette_reads_them():
    from starlette.requests import Request

    from mlcycle.serve.app import read_body

    messages = [
        {"type": "http.request", "body": b"RIFF", "more_body": True},
        {"type": "http.request", "body": b"rest", "more_body": False},
    ]

    async def receive():
        return messages.pop(0)

    headers = [(b"content-type", b"audio/wav"), (b"content-type", b"image/png")]
    request = Request({"type": "http", "method": "POST", "headers": headers}, receive)
    assert request.headers.get("content-type") == "audio/wav"
    assert asyncio.run(read_body(request, 100)) == (b"RIFFrest", "audio/wav")
