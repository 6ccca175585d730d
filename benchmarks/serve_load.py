"""Serving throughput and latency: `mlcycle serve` against naive servers, same package.

    python benchmarks/serve_load.py [--package models/package] [--requests 2000]

Four servers run side by side in this run, on loopback, each in its own process:

* `mlcycle serve` with its default settings (dynamic batching, the prediction log on,
  in a temporary folder);
* naive async: a FastAPI handler that awaits the body and calls Package.predict_proba on
  the event loop, one model call per request (the fastest naive server at low load);
* naive thread pool: the same call in a worker thread (asyncio.to_thread);
* HTTP floor: read the body, answer a constant: what uvicorn + FastAPI cost alone.

Each is driven at 1, 8, 32 and 128 concurrent clients, the servers taking turns at each
level; the script prints answers/s and latency p50/p95/p99 (the median of --rounds
interleaved runs), mlcycle's throughput against the faster naive server at every level
(the medians' ratio, and the median and range of the ratio round by round), and the
in-process floor: the package's featurizer + network on decoded inputs at its best batch
size, the most any server could do. Load comes from `hey` where it is installed
(`apt-get install hey`), else from a Python client. Prints figures; asserts nothing.
Needs a package and its validated data (`make run` first).
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
CONCURRENCY = (1, 8, 32, 128)
OURS, ASYNC, THREADS, FLOOR = "mlcycle serve", "naive async", "naive thread pool", "HTTP floor"


def naive_app(package_path: str, kind: str):
    """One model call per request, on the event loop (`async`) or in a worker thread
    (`threads`): what most first servers do; or no model at all (`floor`)."""
    from fastapi import FastAPI

    from mlcycle.models.package import load_package

    package = load_package(package_path) if kind != "floor" else None
    app = FastAPI()

    def answer(probs):
        best = int(probs[0].argmax())
        return {"label": package.labels[best], "confidence": float(probs[0, best])}

    if kind == "async":

        @app.post("/v1/predict")
        async def predict(request: Request):
            return answer(package.predict_proba([await request.body()]))

    elif kind == "threads":

        @app.post("/v1/predict")
        async def predict(request: Request):
            data = await request.body()
            return answer(await asyncio.to_thread(package.predict_proba, [data]))

    else:

        @app.post("/v1/predict")
        async def predict(request: Request):
            await request.body()
            return {"label": "yes", "confidence": 1.0}

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
    """hey (Go) as the load generator: it costs the 2-core machine far less than Python.
    Figures from its per-request CSV: (answers/s, p50, p95, p99 of the answered requests
    in ms, refused share). Only 200s count as throughput; a server that refuses (503 with
    Retry-After, its backpressure) is credited with what it answered."""
    out = subprocess.run(
        ["hey", "-n", str(total), "-c", str(clients), "-m", "POST", "-T", ctype]
        + ["-D", str(body), "-o", "csv", url + "/v1/predict"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split(",") for line in out.splitlines()[1:] if line and line[0].isdigit()]
    seconds = np.array([float(r[0]) for r in rows])
    codes = np.array([int(r[6]) for r in rows])
    ends = np.array([float(r[7]) for r in rows]) + seconds
    other = set(codes.tolist()) - {200, 503}
    sent = total // clients * clients  # hey sends total / clients per client, rounded down
    if other or len(rows) != sent:
        raise SystemExit(f"{url}: {len(rows)} of {sent} requests answered, codes {other}")
    ok = seconds[codes == 200] * 1000
    return (len(ok) / ends.max(), *np.percentile(ok, [50, 95, 99]), float(np.mean(codes == 503)))


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
                if r.status_code == 503:
                    refused.append(1)
                elif r.status_code != 200:
                    raise SystemExit(f"{url}: {r.status_code} {r.text}")
                else:
                    latencies.append(time.perf_counter() - t)

    refused: list[int] = []
    start_t = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    seconds = time.perf_counter() - start_t
    ms = np.array(latencies) * 1000
    return len(ms) / seconds, *np.percentile(ms, [50, 95, 99]), len(refused) / total


def median_run(results: list[tuple]) -> tuple:
    """The run of median answers/s among a server's rounds at one level (its figures
    together: the p99 printed beside a rate is that run's own)."""
    ordered = sorted(results, key=lambda r: r[0])
    return ordered[(len(ordered) - 1) // 2]


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
    parser.add_argument("--requests", type=int, default=2000, help="per concurrency level")
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved runs per level; the median counts"
    )
    parser.add_argument(
        "overrides", nargs="*", help="for mlcycle serve, e.g. serve.batch_wait_ms=2"
    )
    parser.add_argument(
        "--naive-server", nargs=3, metavar=("PACKAGE", "PORT", "KIND"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.naive_server:
        import uvicorn

        package_path, port, kind = args.naive_server
        uvicorn.run(
            naive_app(package_path, kind),
            host="127.0.0.1",
            port=int(port),
            log_level="warning",
            access_log=False,
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
    ports = {name: free_port() for name in (OURS, ASYNC, THREADS, FLOOR)}
    env_bin = Path(sys.executable).parent
    scratch = Path(tempfile.mkdtemp())  # the rollout and the prediction log of this run
    commands = {
        OURS: [
            str(env_bin / "mlcycle"),
            "serve",
            "--package",
            args.package,
            "--port",
            str(ports[OURS]),
            f"paths.rollout={scratch}/rollout.json",
            f"paths.prediction_log={scratch}/predictions.db",
            f"paths.logged_inputs={scratch}/inputs",
            f"paths.log_outages={scratch}/log_outages.json",
            *args.overrides,
        ],
        **{
            name: [sys.executable, __file__, "--naive-server", args.package, str(ports[name]), kind]
            for name, kind in ((ASYNC, "async"), (THREADS, "threads"), (FLOOR, "floor"))
        },
    }
    servers = {name: start(command, ports[name]) for name, command in commands.items()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    print(
        f"{package.card['task']} package {args.package}, {len(bodies)} distinct test files, "
        f"{args.requests} requests per run, {os.cpu_count()} CPUs"
    )
    print(
        f"{'server':<22}{'clients':>8}{'answers/s':>10}{'p50 ms':>10}{'p95 ms':>10}"
        f"{'p99 ms':>10}{'refused':>9}"
    )
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

    runs: dict[tuple[str, int], list] = {}
    try:
        for clients in CONCURRENCY:
            names = list(urls)
            for name in names:
                run(urls[name], clients, min(200, args.requests))  # warm-up
            # Rounds interleaved: each round runs every server once, the order turning
            # round by round, so a disturbance of the shared VM (a neighbour, a scoring
            # job) lands on one round of every server instead of all runs of one.
            for r in range(args.rounds):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    got = run(urls[name], clients, args.requests)
                    runs.setdefault((name, clients), []).append(got)
            for name in names:
                rate, p50, p95, p99, refused = median_run(runs[name, clients])
                print(
                    f"{name:<22}{clients:>8}{rate:>10.0f}{p50:>10.1f}{p95:>10.1f}{p99:>10.1f}"
                    f"{refused:>9.0%}"
                )
    finally:
        for proc in servers.values():
            proc.terminate()
            proc.wait()
    print()
    results = {}
    for clients in CONCURRENCY:
        ours = median_run(runs[OURS, clients])
        naive = max((ASYNC, THREADS), key=lambda name: median_run(runs[name, clients])[0])
        other = median_run(runs[naive, clients])
        # the ratio in each round, against the faster naive server of that round
        ratios = sorted(
            o[0] / max(a[0], t[0])
            for o, a, t in zip(runs[OURS, clients], runs[ASYNC, clients], runs[THREADS, clients])
        )
        results[clients] = ours[0]
        print(
            f"{clients:>3} clients: mlcycle serve {ours[0]:.0f} answers/s = "
            f"{ours[0] / other[0]:.2f}x the faster naive server ({naive}, {other[0]:.0f}); "
            f"per round {float(np.median(ratios)):.2f}x median, {ratios[0]:.2f}-{ratios[-1]:.2f}x; "
            f"p99 {ours[3]:.1f} vs {other[3]:.1f} ms; "
            f"the HTTP floor {median_run(runs[FLOOR, clients])[0]:.0f}"
        )
    floor, batch = forward_floor(args.package, bodies, params.serve.max_batch_size)
    print(
        f"floor: featurizer + network alone on decoded inputs: {floor:.0f} inputs/s (best at "
        f"batches of {batch}); mlcycle serve at 32 clients reaches {results[32] / floor:.0%} of it"
    )


if __name__ == "__main__":
    main()
