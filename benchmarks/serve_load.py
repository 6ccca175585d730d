"""Serving throughput and latency: `mlcycle serve` against a naive server, same package.

    python benchmarks/serve_load.py [--package models/package] [--requests 1500]

Both servers run side by side in this run, on loopback, each in its own process: `mlcycle
serve` (dynamic batching) and a naive FastAPI server that makes one model call per request
(Package.predict_proba in a thread, no batching). Each is driven at 1, 8 and 32 concurrent
clients with the test split's own files; the script prints requests/s and latency
p50/p95/p99 (best of --rounds runs each, the servers taking turns), and the floor: the
package's featurizer + network alone on decoded inputs at its best batch size, the most
any server could do. Load comes from `hey` where it is installed (`apt-get install hey`),
else from a Python client. Prints figures; asserts nothing. Needs a package and its
validated data (`make run` first).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from starlette.requests import Request

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = (1, 8, 32)


def naive_app(package_path: str):
    """One model call per request, in FastAPI's thread pool: what most first servers do."""
    from fastapi import FastAPI

    from mlcycle.models.package import load_package

    package = load_package(package_path)
    app = FastAPI()

    @app.post("/v1/predict")
    async def predict(request: Request):
        data = await request.body()
        probs = await asyncio.to_thread(package.predict_proba, [data])
        best = int(probs[0].argmax())
        return {"label": package.labels[best], "confidence": float(probs[0, best])}

    @app.get("/readyz")
    async def ready():
        return {"status": "ready"}

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: list[str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"server on port {port} did not start: {' '.join(command)}")


def drive_hey(url: str, body: Path, ctype: str, clients: int, total: int):
    """hey (Go) as the load generator: it costs the 2-core machine far less than Python."""
    out = subprocess.run(
        [
            "hey",
            "-n",
            str(total),
            "-c",
            str(clients),
            "-m",
            "POST",
            "-T",
            ctype,
            "-D",
            str(body),
            url + "/v1/predict",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    codes = dict(re.findall(r"\[(\d+)\]\s+(\d+) responses", out))
    if set(codes) != {"200"}:
        raise SystemExit(f"{url}: not every request got a 200: {codes}\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = {int(p): float(t) * 1000 for p, t in re.findall(r"(\d+)% in ([\d.]+) secs", out)}
    return rate, pct[50], pct[95], pct[99]


async def drive(url: str, bodies: list[bytes], ctype: str, clients: int, total: int):
    latencies: list[float] = []
    queue: asyncio.Queue = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(bodies[i % len(bodies)])

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            while not queue.empty():
                body = queue.get_nowait()
                t = time.perf_counter()
                r = await c.post("/v1/predict", content=body, headers={"Content-Type": ctype})
                latencies.append(time.perf_counter() - t)
                if r.status_code != 200:
                    raise SystemExit(f"{url}: {r.status_code} {r.text}")

    start_t = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    seconds = time.perf_counter() - start_t
    ms = np.array(latencies) * 1000
    return total / seconds, *np.percentile(ms, [50, 95, 99])


def forward_floor(package_path: str, bodies: list[bytes], max_batch: int) -> tuple[float, int]:
    """Best inputs/s of featurizer + network alone on decoded inputs, over batch sizes up
    to `max_batch` (all cores, best of 3 rounds of 2 s each): what no server can beat."""
    from mlcycle.models.package import load_package

    package = load_package(package_path)
    best = (0.0, 0)
    for batch in sorted({b for b in (1, 4, 8, 16, 32, 64) if b <= max_batch} | {max_batch}):
        decoded = [package.featurizer.decode(b) for b in bodies[:batch]]
        package.predict_decoded(decoded)  # warm-up
        for _ in range(3):
            rounds, start_t = 0, time.perf_counter()
            while time.perf_counter() - start_t < 2:
                package.predict_decoded(decoded)
                rounds += 1
            best = max(best, (rounds * len(decoded) / (time.perf_counter() - start_t), batch))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default="models/package")
    parser.add_argument("--requests", type=int, default=1500, help="per concurrency level")
    parser.add_argument("--rounds", type=int, default=3, help="runs per level; the best counts")
    parser.add_argument(
        "overrides", nargs="*", help="for mlcycle serve, e.g. serve.batch_wait_ms=2"
    )
    parser.add_argument(
        "--naive-server", nargs=2, metavar=("PACKAGE", "PORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.naive_server:
        import uvicorn

        uvicorn.run(
            naive_app(args.naive_server[0]),
            host="127.0.0.1",
            port=int(args.naive_server[1]),
            log_level="warning",
        )
        return
    from mlcycle.config import load
    from mlcycle.models.package import load_package

    params = load()
    package = load_package(args.package)
    manifest = pd.read_csv(Path(params.paths.validated) / "manifest.csv")
    paths = manifest[manifest["split"] == "test"]["path"].tolist()[:200]
    bodies = [Path(p).read_bytes() for p in paths]
    ctype = "audio/wav" if package.card["modality"] == "audio" else "image/png"
    ours, naive = free_port(), free_port()
    env_bin = Path(sys.executable).parent
    servers = {
        "mlcycle serve": start(
            [
                str(env_bin / "mlcycle"),
                "serve",
                "--package",
                args.package,
                "--port",
                str(ours),
                f"paths.rollout={tempfile.mkdtemp()}/rollout.json",
                *args.overrides,
            ],
            ours,
        ),
        "naive (no batching)": start(
            [sys.executable, __file__, "--naive-server", args.package, str(naive)], naive
        ),
    }
    urls = {
        "mlcycle serve": f"http://127.0.0.1:{ours}",
        "naive (no batching)": f"http://127.0.0.1:{naive}",
    }
    print(
        f"{package.card['task']} package {args.package}, {len(bodies)} distinct test files, "
        f"{args.requests} requests per run, {os.cpu_count()} CPUs"
    )
    print(f"{'server':<22}{'clients':>8}{'req/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    body = Path(tempfile.mkdtemp()) / "body"
    body.write_bytes(bodies[0])
    if shutil.which("hey"):
        print("load generator: hey, one test file as the body")

        def run(url, clients, total):
            return drive_hey(url, body, ctype, clients, total)
    else:
        print("load generator: Python httpx (install hey for less client overhead)")

        def run(url, clients, total):
            return asyncio.run(drive(url, bodies, ctype, clients, total))

    results = {}
    try:
        for clients in CONCURRENCY:
            for name, url in urls.items():  # taking turns: both see the same machine
                run(url, clients, min(200, args.requests))  # warm-up
                # the best of `rounds` (timeit's convention: the least disturbed run)
                rate, p50, p95, p99 = max(
                    (run(url, clients, args.requests) for _ in range(args.rounds)),
                    key=lambda r: r[0],
                )
                results[name, clients] = rate, p99
                print(f"{name:<22}{clients:>8}{rate:>10.0f}{p50:>10.1f}{p95:>10.1f}{p99:>10.1f}")
    finally:
        for proc in servers.values():
            proc.terminate()
            proc.wait()
    ours32, naive32 = results["mlcycle serve", 32], results["naive (no batching)", 32]
    print(
        f"at 32 clients: {ours32[0] / naive32[0]:.1f}x the naive throughput, "
        f"p99 {ours32[1]:.1f} vs {naive32[1]:.1f} ms"
    )
    floor, batch = forward_floor(args.package, bodies, params.serve.max_batch_size)
    print(
        f"floor: featurizer + network alone on decoded inputs: {floor:.0f} inputs/s (best at "
        f"batches of {batch}); mlcycle serve at 32 clients reaches "
        f"{results['mlcycle serve', 32][0] / floor:.0%} of it"
    )


if __name__ == "__main__":
    main()
