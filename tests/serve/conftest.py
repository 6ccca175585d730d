"""A real `mlcycle serve` on loopback, and packages to roll out on it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest
import torch

from mlcycle.models.checkpoint import build_network
from mlcycle.models.package import seal
from tests.conftest import LEARNT, compose_params, run_as_dvc

MLCYCLE = Path(sys.executable).parent / "mlcycle"
TOKEN = "test-token"
# A rollout fast enough for a test: two steps, short intervals, half the stable traffic
# mirrored; latency limits loose (a loaded 2-core machine is not what is under test).
FAST_CANARY = [
    "serve.canary.steps=[50,100]",
    "serve.canary.interval_requests=30",
    "serve.canary.min_requests=10",
    "serve.canary.interval_s=30",
    "serve.canary.mirror_fraction=0.5",
    "serve.canary.checks.min_mirrored=5",
    "serve.canary.checks.max_latency_p99_ms=5000",
    "serve.canary.checks.max_latency_p99_ratio=20",
]
# Where the suite runs a DVC experiment beside a server on the same two cores: a canary
# answer slower than serve.canary.timeout_s (2 s) counts as a failed request, and one in an
# interval of 30 fails the 1 % error-rate check. The loops judge the model, not the load.
PATIENT = ["serve.canary.timeout_s=30"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log: Path

    def client(self, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def admin(self, path: str, body: dict | None = None) -> httpx.Response:
        with self.client() as c:
            return c.post(path, json=body, headers={"Authorization": f"Bearer {TOKEN}"})

    def models(self) -> dict:
        with self.client() as c:
            return c.get("/v1/models").json()


@contextlib.contextmanager
def serving(cwd: Path, *args: str, token: str | None = TOKEN, port: int | None = None):
    """`mlcycle serve` in `cwd` on a free loopback port, until the block ends."""
    port = port or free_port()
    log = cwd / f"serve-{port}.log"
    env = {k: v for k, v in os.environ.items() if k != "MLCYCLE_ADMIN_TOKEN"}
    if token:
        env["MLCYCLE_ADMIN_TOKEN"] = token
    if not any(a.startswith("serve.package_roots=") for a in args):
        # canaries come from the session's temporary folders, beside cwd
        args = (*args, f"serve.package_roots=[models,'{cwd.parent}']")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [MLCYCLE, "serve", "--port", str(port), *args],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", proc, log)
    try:
        wait_ready(server)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_ready(server: Server, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.proc.poll() is not None:
            raise AssertionError(f"server exited:\n{server.log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.url + "/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"server not ready in {timeout} s:\n{server.log.read_text()}")


def split_files(folder: Path, split: str = "train", n: int = 60) -> list[Path]:
    """Validated files of one split of a pipeline folder."""
    manifest = pd.read_csv(folder / "data/validated/manifest.csv")
    return [folder / p for p in manifest[manifest["split"] == split]["path"][:n]]


def rewrite_package(folder: Path, weights=None, **card_changes) -> None:
    """Change a package in place (new weights and/or card fields), keeping it loadable."""
    card = json.loads((folder / "card.json").read_text())
    if weights is not None:
        torch.save(weights, folder / "weights.pt")
    for key, value in card_changes.items():
        card[key] = value
    (folder / "card.json").write_text(json.dumps(seal(folder, card)))


@pytest.fixture(scope="session")
def digits_packages(learnt, tmp_path_factory) -> dict[str, Path]:
    """The digits package, and canaries: another good one (seed 1), one with random
    weights, one that raises on every input, one that answers NaN, and a keywords one
    (another task)."""
    base = learnt("digits")
    root = tmp_path_factory.mktemp("canaries")
    good = root / "seed1"
    shutil.copytree(base, good)
    (good / "params.yaml").write_text(compose_params([*LEARNT["digits"], "seed=1"]))
    old = os.getcwd()
    os.chdir(good)
    try:
        from mlcycle.stages import evaluate, gate, package, train

        for stage in (train, evaluate, gate, package):
            assert run_as_dvc(stage) == 0
    finally:
        os.chdir(old)
    packages = {"stable": base / "models/package", "good": good / "models/package"}
    card = json.loads((base / "models/package/card.json").read_text())
    random = root / "random"
    shutil.copytree(base / "models/package", random)
    torch.manual_seed(123)
    rewrite_package(random, weights=build_network(card["network"]).state_dict())
    raising = root / "raising"
    shutil.copytree(base / "models/package", raising)
    stats = dict(card["preprocessing"], std=[1.0, 1.0])  # two channels for a 1-channel net
    rewrite_package(raising, preprocessing=stats)
    nan = root / "nan"  # answers NaN probabilities for every input
    shutil.copytree(base / "models/package", nan)
    weights = torch.load(base / "models/package/weights.pt", weights_only=True)
    bias = [k for k in weights if k.endswith("bias")][-1]
    weights[bias] = torch.full_like(weights[bias], float("nan"))
    rewrite_package(nan, weights=weights)
    failed_gate = root / "failed-gate"
    shutil.copytree(good / "models/package", failed_gate)
    rewrite_package(failed_gate, gate=dict(card["gate"], passed=False))
    packages.update(random=random, raising=raising, nan=nan, failed_gate=failed_gate)
    packages["keywords"] = learnt("keywords") / "models/package"
    return packages


@pytest.fixture
def digits_dir(learnt, tmp_path) -> Iterator[Path]:
    """A folder to serve from: the digits pipeline's params.yaml and package, no rollout yet."""
    base = learnt("digits")
    shutil.copyfile(base / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(base / "models/package", tmp_path / "models/package")
    yield tmp_path
