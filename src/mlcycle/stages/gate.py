"""gate: compare metrics/eval.json with the scope's targets -> metrics/gate.json.

The gate records pass/fail for each target; it never deletes a model. Serving refuses to
promote a package whose gate failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from mlcycle.atomic import write_json_atomic
from mlcycle.scope import check_targets
from mlcycle.stages.runner import StageError, log, run_stage


def gate(params: DictConfig) -> None:
    evaluation = Path(params.paths.metrics.eval)
    if not evaluation.is_file():
        raise StageError(f"{evaluation} not found (run the evaluate stage first)")
    targets = OmegaConf.to_container(params.scope.targets)
    if not targets:
        raise StageError("scope.targets is empty: declare the metrics a model must meet")
    try:
        checks = check_targets(json.loads(evaluation.read_text()), targets)
    except KeyError as e:
        raise StageError(f"scope.targets: {e.args[0]}") from None
    passed = all(c["passed"] for c in checks)
    undecided = [c["metric"] for c in checks if c["verdict"] == "undecided"]
    write_json_atomic(
        params.paths.metrics.gate,
        {
            "passed": passed,
            "failed": sum(c["verdict"] == "fail" for c in checks),
            "undecided": len(undecided),
            "checks": checks,
        },
    )
    for c in checks:
        if c["verdict"] == "not_measured":
            log.info("%-16s not measured: no source held voices out (collect.pico)", c["metric"])
            continue
        interval = "" if c["interval"] is None else f" 95% [{c['interval'][0]}, {c['interval'][1]}]"
        log.info(
            "%-16s %-10s measured %-10.4g%s %s",
            c["metric"],
            c["target"],
            c["measured"],
            interval,
            c["verdict"].upper() if c["verdict"] != "pass" else "pass",
        )
    for c in checks:
        if c["verdict"] != "undecided":
            continue
        needed = c["examples_to_decide"]
        log.info(
            "%s is undecided: the 95%% interval straddles %s.%s More test data decides it: "
            "a larger validate.test_fraction, or a labelled test set of your own (README, "
            '"Small test sets").',
            c["metric"],
            c["target"],
            f" About {needed:,} examples would decide it if {c['measured']} holds."
            if needed
            else "",
        )
    log.info("gate %s", "passed" if passed else "FAILED: this model will not be promoted")


def main(argv: list[str] | None = None) -> int:
    return run_stage("gate", gate, argv)


if __name__ == "__main__":
    sys.exit(main())
