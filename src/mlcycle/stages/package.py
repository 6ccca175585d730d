"""package: the trained model -> paths.package, ready to serve: weights, the model card and
the reference profile monitoring compares production traffic with."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from omegaconf import DictConfig

from mlcycle.features.store import load_split, load_stats
from mlcycle.modalities import modality
from mlcycle.models.checkpoint import CheckpointError
from mlcycle.models.evaluation import predict
from mlcycle.models.package import Package, PackageError, data_hashes, git_revision
from mlcycle.stages.runner import StageError, log, run_stage


def package(params: DictConfig) -> None:
    paths = params.paths
    evaluation, gate = Path(paths.metrics.eval), Path(paths.metrics.gate)
    for path in (evaluation, gate):
        if not path.is_file():
            raise StageError(f"{path} not found (run the pipeline up to the gate first)")
    try:
        stats = load_stats(paths.features)
        pkg = Package.from_checkpoint(paths.checkpoint, stats)
    except (CheckpointError, PackageError) as e:
        raise StageError(str(e)) from None
    train, val = load_split(paths.features, "train"), load_split(paths.features, "val")
    pkg.use_onnx(next(iter(val.batches()))[:8])  # network.onnx, for serve.runtime=onnx
    verdict = json.loads(gate.read_text())
    metrics = json.loads(evaluation.read_text())
    if "threshold" in metrics:  # a two-label table task: alert at the threshold chosen on val
        pkg.card["decision"] = {"positive": stats.labels[-1], "threshold": metrics["threshold"]}
    val_probs = predict(pkg.net, val.batches())
    try:
        pkg.reference = modality(stats.modality, "package")(
            params, pkg, stats, train, val, val_probs
        )
    except (ValueError, FileNotFoundError) as e:
        raise StageError(str(e)) from None
    pkg.card.update(
        metrics=metrics,
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
    return run_stage("package", package, argv, pinned=True)


if __name__ == "__main__":
    sys.exit(main())
