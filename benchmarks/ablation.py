"""What each data source and augmentation is worth: one `dvc exp run` per factor switched
off, on a smaller collection than the default so that the whole table fits in an hour.

    python benchmarks/ablation.py [--scale small|default] [--only NAME ...]

Each row is `dvc exp run --temp` of the project as committed, with the scale's overrides
and one change; the figures are the run's own metrics/eval.json: held-out voice accuracy
(collect.pico.held_out_voices, never trained on, the same speakers in every row) and the
test split's (whose clips change when a source is switched off). Prints a Markdown table;
asserts nothing. Every run stays in `dvc exp show` (named ablation-<row>).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

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


def metrics(name: str) -> dict:
    shown = json.loads(
        subprocess.run(
            ["dvc", "exp", "show", "--json", "--no-fetch"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    for commit in shown:
        for exp in commit.get("experiments") or []:
            for rev in exp.get("revs", []):
                if rev.get("name") == name:
                    data = rev["data"]["metrics"]
                    return {
                        **data["metrics/eval.json"]["data"],
                        **data["metrics/train.json"]["data"],
                    }
    raise KeyError(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=SCALES, default="small")
    parser.add_argument("--only", nargs="*", choices=ROWS)
    args = parser.parse_args()
    table = []
    for row in args.only or ROWS:
        name = f"ablation-{args.scale}-{row}"
        sets = [x for o in SCALES[args.scale] + ROWS[row] for x in ("-S", o)]
        start = time.perf_counter()
        done = subprocess.run(["dvc", "exp", "run", "--temp", "-n", name, *sets])
        if done.returncode:
            sys.exit(f"{name} failed ({done.returncode})")
        m = metrics(name)  # dvc exp show leaves list-valued metrics out: intervals anew
        lo, hi = wilson(m["held_out_accuracy"], m["held_out_examples"])
        tlo, thi = wilson(m["accuracy"], m["test_examples"])
        table.append(
            f"| {row} | {m['held_out_accuracy']:.3f} ({lo:.3f}–{hi:.3f}) | "
            f"{m['accuracy']:.3f} ({tlo:.3f}–{thi:.3f}) | {m['test_examples']} | "
            f"{m['train_seconds']:.0f} s | {time.perf_counter() - start:.0f} s |"
        )
        print(table[-1], flush=True)
    print(f"\nscale {args.scale}: {' '.join(SCALES[args.scale]) or 'the default'}")
    print("| row | held-out voice (95 %) | test split (95 %) | test clips | training | run |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(table))


if __name__ == "__main__":
    main()
