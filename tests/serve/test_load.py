"""A bounded load test on loopback: mixed good and bad requests from 32 clients at once."""

import asyncio
import io
import json
import re
import time

import httpx
import numpy as np
import psutil
from PIL import Image

from tests.serve.conftest import serving, split_files

CLIENTS, REQUESTS = 32, 2400


def bad_bodies() -> list[tuple[bytes, str, str]]:
    """(body, content type, the reason the server must give)."""
    bomb = io.BytesIO()
    Image.new("L", (6000, 6000)).save(bomb, format="PNG")  # 36 M pixels, a few kB
    return [
        (b"", "image/png", "empty"),
        (b"garbage, not a picture", "image/png", "undecodable"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "application/octet-stream", "wrong_modality"),
        (b"{}", "application/json", "content_type"),
        (bomb.getvalue(), "image/png", "too_many_pixels"),
    ]


async def hammer(url: str, good: list[bytes], bad) -> list[tuple[int, dict, str | None]]:
    rng = np.random.default_rng(0)
    plan = [
        (good[i % len(good)], "image/png", None)
        if rng.random() < 0.7
        else bad[int(rng.integers(len(bad)))]
        for i in range(REQUESTS)
    ]
    queue: asyncio.Queue = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)
    results = []

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            while not queue.empty():
                body, ctype, reason = queue.get_nowait()
                r = await c.post("/v1/predict", content=body, headers={"Content-Type": ctype})
                results.append((r.status_code, r.json(), reason))

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return results


def test_mixed_load_from_32_clients_gives_no_5xx_and_flat_memory(learnt):
    folder = learnt("digits")
    good = [p.read_bytes() for p in split_files(folder, "test", 40)]
    bad = bad_bodies()
    with serving(folder, token=None) as server:
        process = psutil.Process(server.proc.pid)
        asyncio.run(hammer(server.url, good, bad))  # warm-up: allocators, caches, pools
        before = process.memory_info().rss
        results = asyncio.run(hammer(server.url, good, bad))
        after = process.memory_info().rss
    assert len(results) == REQUESTS
    codes = [code for code, _, _ in results]
    assert not [c for c in codes if c >= 500]
    for code, answer, reason in results:
        if reason is None:
            assert code == 200 and "label" in answer
        else:
            assert 400 <= code < 500 and answer["error"] == reason and answer["detail"]
    growth = (after - before) / before
    print(f"server RSS {before / 1e6:.0f} MB -> {after / 1e6:.0f} MB ({growth:+.1%})")
    assert growth < 0.10, f"resident memory grew {growth:.1%} over {REQUESTS} requests"


BURST_CLIENTS, BURST_EACH = 256, 4


async def post(reader, writer, port: int, body: bytes) -> tuple[int, dict, dict]:
    """One HTTP/1.1 request on an open keep-alive connection: (status, JSON body, headers).
    Written by hand because at 256 connections httpx's own CPU time (a TLS context per
    client, or its pool's bookkeeping) is most of what such a burst would measure."""
    writer.write(
        b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: image/png\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (port, len(body), body)
    )
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = dict(line.lower().split(": ", 1) for line in head[1:] if line)
    payload = await reader.readexactly(int(headers["content-length"]))
    return status, json.loads(payload), headers


async def burst(url: str, good: list[bytes]) -> list[tuple[int, dict, str | None, float]]:
    """BURST_CLIENTS clients at once, each sending BURST_EACH requests back to back on
    its own connection; each request timed from its first byte sent to its last read."""
    port = int(url.rsplit(":", 1)[1])
    results = []

    async def client(i: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for j in range(BURST_EACH):
                start = time.perf_counter()
                code, answer, headers = await post(reader, writer, port, good[(i + j) % len(good)])
                elapsed = time.perf_counter() - start
                results.append((code, answer, headers.get("retry-after"), elapsed))
        finally:
            writer.close()

    await asyncio.wait_for(asyncio.gather(*(client(i) for i in range(BURST_CLIENTS))), 60)
    return results


def test_a_burst_beyond_capacity_is_refused_with_503_and_memory_stays_flat(learnt):
    folder = learnt("digits")
    good = [p.read_bytes() for p in split_files(folder, "test", 40)]
    with serving(folder, "serve.max_queue=16", token=None) as server:
        process = psutil.Process(server.proc.pid)
        asyncio.run(burst(server.url, good))  # warm-up
        before = process.memory_info().rss
        results = asyncio.run(burst(server.url, good))
        after = process.memory_info().rss
        with server.client() as c:
            metrics = c.get("/metrics").text
    codes = [code for code, *_ in results]
    assert set(codes) <= {200, 503} and codes.count(503) > 0 and codes.count(200) > 0
    for code, answer, retry_after, _ in results:
        if code == 503:
            assert answer["error"] == "overloaded" and retry_after == "1"
        else:
            assert "label" in answer
    counted = r'^mlcycle_rejected_inputs_total\{reason="overloaded"\} (\S+)$'
    refused = re.search(counted, metrics, re.M)  # the warm-up's refusals counted too
    assert refused and float(refused.group(1)) >= codes.count(503)
    admitted = sorted(t for code, _, _, t in results if code == 200)
    p99 = admitted[int(0.99 * (len(admitted) - 1))]
    print(
        f"burst of {BURST_CLIENTS}: {codes.count(200)} answered (p99 {p99 * 1000:.0f} ms), "
        f"{codes.count(503)} refused; RSS {before / 1e6:.0f} -> {after / 1e6:.0f} MB"
    )
    assert p99 < 10.0  # within serve.request_timeout_s: nobody waits without bound
    assert abs(after - before) / before < 0.20
