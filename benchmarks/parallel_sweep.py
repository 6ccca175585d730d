"""A queued sweep run two at a time against one at a time: `dvc queue start -j 2` vs `-j 1`.

    python benchmarks/parallel_sweep.py [--jobs 1 2]

For each job count, in a fresh temporary git copy of the project (the digits task),
queues the README's 2 x 2 grid (`-S 'model=cnn,resnet' -S 'train.lr=0.005,0.01'`), runs
the queue with `dvc queue start -j N`, and prints the wall time of the whole sweep and,
per experiment, its training time, test accuracy, the latency the gate checks (CPU time
per input) and the wall latency, and the gate's verdict. Train, review, evaluate and
package run on the `threads` param whatever runs beside them (mlcycle.threads), so the
accuracies and verdicts must be the same for -j 2 and -j 1; only the times may differ.
Prints figures; asserts nothing. About 10 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.dvc_project import copy_project, sh  # noqa: E402

GRID = ["-S", "model=cnn,resnet", "-S", "train.lr=0.005,0.01"]


def sweep(jobs: int) -> tuple[float, list[dict]]:
    with tempfile.TemporaryDirectory() as tmp:
        project = copy_project(Path(tmp), "digits", [], [])
        sh(project, "dvc", "exp", "run", "--queue", *GRID)
        start = time.perf_counter()
        sh(project, "dvc", "queue", "start", "-j", str(jobs))
        while True:
            status = sh(project, "dvc", "queue", "status", stdout_only=True)
            if "Queued" not in status and "Running" not in status:
                break
            time.sleep(2)
        wall = time.perf_counter() - start
        if status.count("Success") != 4:
            raise SystemExit(f"the sweep did not succeed:\n{status}")
        shown = json.loads(sh(project, "dvc", "exp", "show", "--json", stdout_only=True))
    rows = []
    for commit in shown:
        for exp in commit.get("experiments") or []:
            data = exp["revs"][0]["data"]
            metrics = {k: v["data"] for k, v in data["metrics"].items()}
            params = data["params"]["params.yaml"]["data"]
            evaluation = metrics["metrics/eval.json"]
            rows.append(
                {
                    "name": exp["name"],
                    "model": params["model"]["_target_"].rsplit(".", 1)[-1],
                    "lr": params["train"]["lr"],
                    "train_s": metrics["metrics/train.json"]["train_seconds"],
                    "accuracy": evaluation["accuracy"],
                    "cpu_p95": evaluation["latency_cpu_p95_ms"],
                    "wall_p95": evaluation["latency_p95_ms"],
                    "passed": metrics["metrics/gate.json"]["passed"],
                }
            )
    return wall, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    walls = {}
    for jobs in args.jobs:
        wall, rows = sweep(jobs)
        walls[jobs] = wall
        print(f"\n-j {jobs}: the 2 x 2 sweep took {wall:.0f} s")
        print("| model | lr | train s | accuracy | CPU p95 ms | wall p95 ms | gate |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for r in sorted(rows, key=lambda r: (r["model"], r["lr"])):
            print(
                f"| {r['model']} | {r['lr']} | {r['train_s']:.0f} | {r['accuracy']:.4f} | "
                f"{r['cpu_p95']:.2f} | {r['wall_p95']:.2f} | "
                f"{'passed' if r['passed'] else 'FAILED'} |",
                flush=True,
            )
    if 1 in walls and len(walls) > 1:
        for jobs, wall in walls.items():
            if jobs != 1:
                print(f"\n-j {jobs} / -j 1 wall time: {wall / walls[1]:.2f}")


if __name__ == "__main__":
    main()
