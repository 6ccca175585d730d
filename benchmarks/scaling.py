"""How cost grows with the data: wall time and peak memory per stage at 1x, 2x, 4x.

    python benchmarks/scaling.py [--scales 1 2 4] [--epochs 1] [extra Hydra overrides...]
    python benchmarks/scaling.py --task transactions --scales 1 10

For each scale, in a temporary folder, runs the default keywords pipeline with
collect.keywords.speakers = the default's x scale (1,200 -> 4,800 speakers, 15,600 ->
62,400 clips) -- or, with --task transactions, the fraud table with
collect.transactions.accounts x scale (6,000 -> 60,000 accounts, ~170,000 -> ~1.7 million
rows) -- each stage in its own process, and prints per stage the wall time and the
peak resident memory (the process's maximum RSS, getrusage). Training runs `--epochs`
epochs (the cost of an epoch is what grows with the data; the recipe's epochs multiply it).
featurize, train and evaluate read and write the feature store one shard at a time, so
their memory should stay roughly flat while their time grows linearly. Prints figures;
asserts nothing. Takes about 20 minutes on 2 CPU cores at the default scales.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf

from mlcycle.config import compose

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("collect", "validate", "featurize", "train", "evaluate")
# One stage in this process, then its peak RSS (kB on Linux) on the last line of stdout.
RUNNER = (
    "import resource, runpy, sys; stage = sys.argv[1]; sys.argv = sys.argv[1:]; "
    "code = 0\n"
    "try:\n"
    "    runpy.run_module(f'mlcycle.stages.{stage}', run_name='__main__')\n"
    "except SystemExit as e:\n"
    "    code = e.code or 0\n"
    "print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    "sys.exit(code)"
)


def run_stage(folder: Path, stage: str) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one stage run in `folder`."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, stage], cwd=folder, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{stage} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    rss_kb = int(done.stdout.strip().splitlines()[-1].split()[1])
    return seconds, rss_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--task", choices=["keywords", "transactions"], default="keywords")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    task = [] if args.task == "keywords" else [f"task={args.task}"]
    base = OmegaConf.create(compose([*task, *args.overrides], conf_dir=ROOT / "conf"))
    key = "keywords.speakers" if args.task == "keywords" else "transactions.accounts"
    size = OmegaConf.select(base.collect, key)
    rows = []
    for scale in args.scales:
        overrides = [
            *task,
            f"collect.{key}={size * scale}",
            f"train.max_epochs={args.epochs}",
            "train.min_steps=0",
            *args.overrides,
        ]
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "params.yaml").write_text(compose(overrides, conf_dir=ROOT / "conf"))
            for stage in STAGES:
                seconds, rss = run_stage(folder, stage)
                rows.append((scale, stage, seconds, rss))
                print(f"{scale}x {stage:<10} {seconds:7.1f} s {rss:8.0f} MB", flush=True)
            rows_of = {
                split: json.loads((folder / f"data/features/{split}/index.json").read_text())[
                    "rows"
                ]
                for split in ("train", "val", "test")
            }
            features = sum(f.stat().st_size for f in (folder / "data/features").rglob("*"))
            print(f"{scale}x: {rows_of} examples, features {features / 1e6:.0f} MB", flush=True)
    print()
    print("| stage | " + " | ".join(f"{s}x time | {s}x peak RSS" for s in args.scales) + " |")
    print("|---|" + "---:|---:|" * len(args.scales))
    for stage in STAGES:
        cells = [
            f"{seconds:.0f} s | {rss:.0f} MB"
            for scale in args.scales
            for (sc, st, seconds, rss) in rows
            if sc == scale and st == stage
        ]
        print(f"| {stage} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
