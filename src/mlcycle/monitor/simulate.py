"""`mlcycle simulate`: replay held-out data against a running server, optionally shifted.

Shifts (any combination, `name:value`), each file modality naming its own (its monitoring
part: a Shifts of this module): audio `noise:<SNR dB>` (white noise), `gain:<dB>`,
`pitch:<factor>` (played faster and higher, another voice); images `dark:<factor>`
(brightness times factor), `rotate:<degrees>`; any file `empty:<share>` (empty bodies) and
`damaged:<share>` (bodies cut short). Bounded in count and seconds; loopback only. Table
rows: mlcycle.modalities.table.simulate (it replays through `replay` here).
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlparse

import httpx
import numpy as np
import pandas as pd
import soundfile as sf
import torch
from PIL import Image

from mlcycle.data.audio_io import read_audio
from mlcycle.features.audio import resample

BODY_SHIFTS = {"empty", "damaged"}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class Shifts(NamedTuple):
    """A file modality's own shifts: their names, and `apply(data, shifts, rng)` -> the
    shifted file's bytes."""

    names: frozenset[str]
    apply: Callable[[bytes, dict[str, float], np.random.Generator], bytes]


def parse_shifts(specs: list[str], own: Shifts, modality: str) -> dict[str, float]:
    """['noise:10', 'empty:0.2'] -> {'noise': 10.0, 'empty': 0.2}; ValueError naming a bad one."""
    allowed = set(own.names) | BODY_SHIFTS
    shifts = {}
    for spec in specs:
        name, _, value = spec.partition(":")
        if name not in allowed:
            raise ValueError(f"shift {spec!r}: choose from {sorted(allowed)} for {modality}")
        try:
            shifts[name] = float(value)
        except ValueError:
            raise ValueError(f"shift {spec!r} needs a number after ':'") from None
    return shifts


def shift_audio(data: bytes, shifts: dict[str, float], rng: np.random.Generator) -> bytes:
    samples, rate = read_audio(data)
    x = torch.from_numpy(samples)
    if "pitch" in shifts:  # resample to fewer samples, play at the same rate
        x = torch.stack([resample(c, rate, int(rate / shifts["pitch"])) for c in x])
    x = x.numpy()
    if "gain" in shifts:
        x = x * 10 ** (shifts["gain"] / 20)
    if "noise" in shifts:
        power = float(np.mean(x**2)) or 1e-8
        x = x + rng.standard_normal(x.shape) * np.sqrt(power / 10 ** (shifts["noise"] / 10))
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(x, -1, 1).T, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def shift_image(data: bytes, shifts: dict[str, float], rng: Any = None) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    if "dark" in shifts:
        image = Image.fromarray((np.asarray(image) * shifts["dark"]).clip(0, 255).astype(np.uint8))
    if "rotate" in shifts:
        image = image.rotate(shifts["rotate"], fillcolor=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


AUDIO_SHIFTS = Shifts(frozenset({"noise", "gain", "pitch"}), shift_audio)
IMAGE_SHIFTS = Shifts(frozenset({"dark", "rotate"}), shift_image)


def body(path: Path, own: Shifts, shifts: dict[str, float], rng: np.random.Generator) -> bytes:
    data = path.read_bytes()
    if rng.random() < shifts.get("empty", 0.0):
        return b""
    if shifts.keys() & own.names:
        data = own.apply(data, shifts, rng)
    if rng.random() < shifts.get("damaged", 0.0):
        data = data[: max(1, len(data) // 3)]
    return data


async def replay(
    url: str,
    items: list[tuple[str, bytes]],
    mime: str,
    concurrency: int,
    seconds: float,
) -> list[dict]:
    queue: asyncio.Queue = asyncio.Queue()
    for i, item in enumerate(items):
        queue.put_nowait((i, *item))
    deadline = time.monotonic() + seconds
    results: list[dict] = []

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            while not queue.empty() and time.monotonic() < deadline:
                i, label, data = queue.get_nowait()
                r = await c.post(
                    "/v1/predict",
                    content=data,
                    headers={"Content-Type": mime, "X-Request-Key": f"simulate-{i}"},
                )
                answer = r.json()
                results.append(
                    {
                        "request_id": answer.get("request_id"),
                        "true_label": label,
                        "status": r.status_code,
                        "predicted": answer.get("label"),
                        "error": answer.get("error"),
                    }
                )

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return results


def loopback(url: str) -> None:
    host = urlparse(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"simulate sends traffic to loopback only, not to {host}")


def simulate(
    url: str,
    manifest: Path,
    split: str,
    own: Shifts,
    mime: str,
    count: int,
    concurrency: int,
    seconds: float,
    shifts: dict[str, float],
    seed: int = 0,
) -> pd.DataFrame:
    """Send `count` requests (at most `seconds`) built from the split's files, shifted by
    the modality's `own` shifts and sent as `mime`; one row per answered request:
    request_id, true_label, status, predicted, error."""
    loopback(url)
    table = pd.read_csv(manifest, dtype=str)
    rows = table[table["split"] == split]
    if rows.empty:
        raise ValueError(f"{manifest} has no {split!r} files to replay")
    rng = np.random.default_rng(seed)
    # every file once in a shuffled order, again if more requests are asked for: a fair
    # sample of the split, never one file over-represented
    rounds = -(-count // len(rows))
    picks = np.concatenate([rng.permutation(len(rows)) for _ in range(rounds)])[:count]
    items = [
        (rows["label"].iloc[i], body(Path(rows["path"].iloc[i]), own, shifts, rng)) for i in picks
    ]
    return pd.DataFrame(asyncio.run(replay(url, items, mime, concurrency, seconds)))
