"""A bounded load test on loopback: mixed good and bad requests from 32 clients at once."""

import asyncio
import io

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
