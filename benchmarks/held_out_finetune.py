"""Fine-tuning on voices the model never heard: the held-out voice's clips as a user's own
small data set, zero-shot against fine-tuned on the same test speakers.

    python benchmarks/held_out_finetune.py [--package models/package]

Takes the validated collection's held_out split (collect.pico.held_out_voices, never
trained on), writes it as a user's manifest (path,label,group = speaker) into a project
folder under /tmp, and runs the pipeline there as the README's fine-tuning section does:
collect -> validate -> featurize -> train (train.init_from = the package) -> evaluate.
validate splits the speakers: with the fractions below about 40 speakers (≈ 40 clips per
word) train, 10 steer early stopping and half are the test set. Prints the package's
zero-shot accuracy on those test clips and the fine-tuned model's, each with Wilson's
95 % interval. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from score_splits import accuracy  # benchmarks/ is the script's folder on sys.path

from mlcycle.config import compose
from mlcycle.models.package import load_package
from mlcycle.scope import wilson

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("collect", "validate", "featurize", "train", "evaluate")


def project(folder: Path, package: Path, held_out: pd.DataFrame, overrides: list[str]) -> None:
    """A project folder whose only data is the held-out clips, as a user's manifest."""
    mine = folder / "data/external/heldout"
    rows = []
    for path, label, speaker in held_out[["path", "label", "speaker"]].itertuples(index=False):
        dest = mine / label / Path(path).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / path, dest)
        rows.append({"path": f"{label}/{dest.name}", "label": label, "group": speaker})
    pd.DataFrame(rows).to_csv(mine / "manifest.csv", index=False)
    shutil.copytree(package, folder / "models/base/keywords")
    shutil.copyfile(ROOT / "dvc.yaml", folder / "dvc.yaml")
    params = compose(
        [
            "collect.sources=[manifest]",
            "collect.manifest.csv=data/external/heldout/manifest.csv",
            "collect.defect_fraction=0",
            "train.init_from=models/base/keywords",
            *overrides,
        ],
        conf_dir=ROOT / "conf",
    )
    (folder / "params.yaml").write_text(params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default="models/package")
    parser.add_argument("--manifest", default="data/validated/manifest.csv")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--test-fraction", type=float, default=0.5)
    parser.add_argument("overrides", nargs="*", help="params for the fine-tuning run")
    args = parser.parse_args()
    manifest = pd.read_csv(ROOT / args.manifest)
    held_out = manifest[manifest["split"] == "held_out"]
    if held_out.empty:
        sys.exit(f"{args.manifest} has no held_out split (collect.pico.held_out_voices)")
    package = (ROOT / args.package).resolve()
    folder = Path(tempfile.mkdtemp(prefix="held_out_finetune_"))
    overrides = [
        f"validate.val_fraction={args.val_fraction}",
        f"validate.test_fraction={args.test_fraction}",
        *args.overrides,
    ]
    project(folder, package, held_out, overrides)
    start = time.perf_counter()
    for stage in STAGES:
        env = {**os.environ, "DVC_STAGE": stage}
        done = subprocess.run(
            [sys.executable, "-m", f"mlcycle.stages.{stage}"], cwd=folder, env=env
        )
        if done.returncode:
            sys.exit(f"{stage} failed ({done.returncode}) in {folder}")
    seconds = time.perf_counter() - start
    split = pd.read_csv(folder / "data/validated/manifest.csv")
    test = split[split["split"] == "test"]
    zero_shot = accuracy(load_package(package), test.assign(path=str(folder) + "/" + test["path"]))
    tuned = json.loads((folder / "metrics/eval.json").read_text())
    sizes = split.groupby("split")["group"].nunique().to_dict()
    per_word = split[split["split"] == "train"]["label"].value_counts()
    print(
        f"held-out voice(s) {sorted(held_out['accent'].dropna().unique())}: "
        f"speakers {sizes}, training clips per word {per_word.min()}-{per_word.max()}"
    )
    lo, hi = wilson(zero_shot, len(test))
    print(f"zero-shot  {zero_shot:.3f} ({lo:.3f}-{hi:.3f}) on {len(test)} test clips")
    lo, hi = tuned["accuracy_ci95"]
    print(f"fine-tuned {tuned['accuracy']:.3f} ({lo:.3f}-{hi:.3f}); pipeline {seconds:.0f} s")
    print(f"project left in {folder}")


if __name__ == "__main__":
    main()
