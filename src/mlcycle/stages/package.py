"""package: the trained model -> paths.package (weights + model card), ready to serve."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from omegaconf import DictConfig

from mlcycle.features.store import load_stats
from mlcycle.models.checkpoint import CheckpointError
from mlcycle.models.package import Package, PackageError, data_hashes, git_revision
from mlcycle.stages.runner import StageError, log, run_stage


def package(params: DictConfig) -> None:
    paths = params.paths
    evaluation, gate = Path(paths.metrics.eval), Path(paths.metrics.gate)
    for path in (evaluation, gate):
        if not path.is_file():
            raise StageError(f"{path} not found (run the pipeline up to the gate first)")
    try:
        pkg = Package.from_checkpoint(paths.checkpoint, load_stats(paths.features))
    except (CheckpointError, PackageError) as e:
        raise StageError(str(e)) from None
    verdict = json.loads(gate.read_text())
    pkg.card.update(
        metrics=json.loads(evaluation.read_text()),
        gate=verdict,
        git_revision=git_revision(),
        data=data_hashes([paths.raw, paths.validated, paths.features]),
    )
    pkg.save(paths.package)
    log.info(
        "packaged %s (%s, gate %s) into %s",
        pkg.card["task"],
        pkg.card["network"]["model"]["_target_"],
        "passed" if verdict["passed"] else "FAILED",
        paths.package,
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage("package", package, argv)


if __name__ == "__main__":
    sys.exit(main())
