"""What each data source and augmentation is worth: one `dvc exp run` per factor switched
off, on a smaller collection than the default so that the whole table fits in an hour.

    python benchmarks/ablation.py [--scale small|default] [--only NAME ...]

Each row is `dvc exp run --temp` of the project as committed, with the scale's overrides
and one change. Every row's package is then scored on the same files: the default
collection's held_out split (collect.pico.held_out_voices, never trained on) and its test
split, all and per synthesiser (data/validated/manifest.csv: `dvc repro validate` first;
a smaller collection's speakers are a subset of the default's, split the same way, so no
row trained on these test speakers). A row without Pico has no held-out split of its own,
so its own metrics/eval.json could not say this. Prints a Markdown table; asserts
nothing. Every run stays in `dvc exp show -A` (named ablation-<scale>-<row>).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from score_splits import accuracy  # benchmarks/ is the script's folder on sys.path

from mlcycle.models.package import load_package
from mlcycle.scope import wilson

# a third of the default collection's training speakers; the held-out voice's 100 are kept
SCALES = {
    "small": ["collect.keywords.speakers=300", "collect.pico.speakers=100"],
    "default": [],
}
ROWS = {
    "all": [],  # the default recipe at this scale
    "no-pico": ["collect.sources=[keywords]"],
    "no-speed": ["collect.augment.speed.p=0"],
    "no-vtlp": ["collect.augment.vtlp.p=0"],
    "no-eq": ["collect.augment.eq.p=0"],
    "no-telephone-codec": ["collect.augment.telephone.p=0", "collect.augment.codec.p=0"],
    "no-augment": [
        f"collect.augment.{name}.p=0" for name in ("speed", "vtlp", "eq", "telephone", "codec")
    ],
    "dscnn": ["model=dscnn"],
}


def all_metrics() -> dict[str, dict]:
    """Every experiment's metrics and its commit (`rev`), by name: one `dvc exp show`."""
    shown = json.loads(
        subprocess.run(
            ["dvc", "exp", "show", "--json", "--no-fetch", "--all-commits"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    found = {}
    for commit in shown:
        for exp in commit.get("experiments") or []:
            for rev in exp.get("revs", []):
                data = rev["data"].get("metrics") or {}
                if rev.get("name") and "metrics/eval.json" in data:
                    found[rev["name"]] = {
                        **data["metrics/eval.json"]["data"],
                        **data["metrics/train.json"]["data"],
                        "rev": rev["rev"],
                    }
    return found


def scored(rev: str, manifest: pd.DataFrame) -> dict[str, tuple[float, int]]:
    """The experiment's package on the default collection's held_out and test files."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "package"
        subprocess.run(["dvc", "get", ".", "models/package", "--rev", rev, "-o", out], check=True)
        package = load_package(out)
        held_out, test = (manifest[manifest["split"] == split] for split in ("held_out", "test"))
        figures = {"held_out": (accuracy(package, held_out), len(held_out))}
        figures["test"] = (accuracy(package, test), len(test))
        for engine, part in test.groupby("engine"):
            figures[engine] = (accuracy(package, part), len(part))
        return figures


def cell(figure: tuple[float, int]) -> str:
    p, n = figure
    lo, hi = wilson(p, n)
    return f"{p:.3f} ({lo:.3f}–{hi:.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=SCALES, default="small")
    parser.add_argument("--only", nargs="*", choices=ROWS)
    parser.add_argument("--no-run", action="store_true", help="score the runs already made")
    parser.add_argument("--manifest", default="data/validated/manifest.csv")
    args = parser.parse_args()
    manifest = pd.read_csv(args.manifest)
    rows = args.only or list(ROWS)
    for row in [] if args.no_run else rows:
        name = f"ablation-{args.scale}-{row}"
        sets = [x for o in SCALES[args.scale] + ROWS[row] for x in ("-S", o)]
        done = subprocess.run(["dvc", "exp", "run", "--temp", "-n", name, *sets])
        if done.returncode:
            sys.exit(f"{name} failed ({done.returncode})")
    runs = all_metrics()
    table = []
    for row in rows:
        m = runs[f"ablation-{args.scale}-{row}"]
        f = scored(m["rev"], manifest)
        table.append(
            f"| {row} | {cell(f['held_out'])} | {cell(f['test'])} | "
            f"{f['espeak'][0]:.3f} / {f['pico'][0]:.3f} | {m['train_seconds']:.0f} s |"
        )
        print(table[-1], flush=True)
    held, test = manifest["split"] == "held_out", manifest["split"] == "test"
    print(f"\nscale {args.scale}: {' '.join(SCALES[args.scale]) or 'the default'}")
    print(f"held-out clips {held.sum()}, test clips {test.sum()} (the default collection)")
    print("| row | held-out voice (95 %) | test split (95 %) | test eSpeak / Pico | training |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(table))


if __name__ == "__main__":
    main()
