"""Any package's accuracy on the validated collection's test and held_out splits, per
synthesiser: how an older package (say, the eSpeak-only one) does on today's voices.

    python benchmarks/score_splits.py models/base/old [models/package ...]

Reads data/validated/manifest.csv (`dvc repro validate` first), decodes each file and
predicts through Package.predict_proba's path; prints accuracy with Wilson's 95 %
interval. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from mlcycle.data.audio_io import read_audio
from mlcycle.models.package import load_package
from mlcycle.scope import wilson

BATCH = 64


def accuracy(package, rows: pd.DataFrame) -> float:
    predicted = []
    for start in range(0, len(rows), BATCH):
        batch = [read_audio(Path(p).read_bytes()) for p in rows["path"].iloc[start : start + BATCH]]
        predicted += package.predict_decoded(batch).argmax(-1).tolist()
    return float(np.mean(np.array(package.labels)[predicted] == rows["label"].to_numpy()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="+")
    parser.add_argument("--manifest", default="data/validated/manifest.csv")
    args = parser.parse_args()
    manifest = pd.read_csv(args.manifest)
    for folder in args.packages:
        package = load_package(folder)
        for split in ("test", "held_out"):
            rows = manifest[manifest["split"] == split]
            if rows.empty:
                continue
            groups = [("all", rows)]
            if "engine" in rows:
                groups += list(rows.groupby("engine"))
            for engine, part in groups:
                acc = accuracy(package, part)
                low, high = wilson(acc, len(part))
                print(
                    f"{folder}  {split:<9}{engine:<7} accuracy {acc:.4f} "
                    f"(95 % {low:.3f}-{high:.3f}) on {len(part)} clips"
                )


if __name__ == "__main__":
    main()
