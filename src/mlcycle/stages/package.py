"""package: the trained model -> models/package/ (weights + model card), ready to serve."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from omegaconf import DictConfig

from mlcycle.models.checkpoint import CheckpointError, load_network
from mlcycle.models.package import write_package
from mlcycle.stages.runner import StageError, log, run_stage

CHECKPOINT = Path("models/model.ckpt")
STATS = Path("data/features/stats.json")
EVAL, GATE = Path("metrics/eval.json"), Path("metrics/gate.json")
OUT = Path("models/package")
DATA = ("data/raw", "data/validated", "data/features")


def git_revision() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    except OSError:
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def data_hashes(lock: Path = Path("dvc.lock")) -> dict[str, str]:
    """The DVC hashes of the data the model was trained on, from dvc.lock."""
    if not lock.is_file():
        return {}
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    return {
        out["path"]: out.get("md5", "")
        for stage in stages.values()
        for out in stage.get("outs", [])
        if out["path"] in DATA
    }


def package(params: DictConfig) -> None:
    for path in (STATS, EVAL, GATE):
        if not path.is_file():
            raise StageError(f"{path} not found (run the pipeline up to the gate first)")
    try:
        net, hp = load_network(CHECKPOINT)
    except CheckpointError as e:
        raise StageError(str(e)) from None
    stats, metrics, gate = (json.loads(p.read_text()) for p in (STATS, EVAL, GATE))
    card = {
        "task": params.task.name,
        "modality": params.task.modality,
        "labels": stats["labels"],
        "preprocessing": stats,
        "network": {
            "model": hp["model"],
            "n_classes": hp["n_classes"],
            "in_channels": hp.get("in_channels", 1),
        },
        "metrics": metrics,
        "gate": gate,
        "git_revision": git_revision(),
        "data": data_hashes(),
    }
    write_package(OUT, net, card)
    log.info(
        "packaged %s (%s, gate %s) into %s",
        params.task.name,
        hp["model"]["_target_"],
        "passed" if gate["passed"] else "FAILED",
        OUT,
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage("package", package, argv)


if __name__ == "__main__":
    sys.exit(main())
