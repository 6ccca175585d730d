"""The article's loop, on its own example: a fraud model serves card transactions ->
attackers switch to a strategy it never saw (bust_out) -> monitoring fires before any
label (the estimated recall fell) -> chargebacks arrive: the realised recall fell ->
`monitor export` with the labels -> `dvc exp run`, fine-tuned from the stable package on
the collection plus the exported rows -> the new package catches bust_out -> canary ->
promoted."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from mlcycle.modalities.table.simulate import json_value, switched
from mlcycle.models.package import load_package
from tests.conftest import LEARNT
from tests.dvc_project import GIT, copy_project, sh
from tests.serve.conftest import FAST_CANARY, MLCYCLE, PATIENT, serving

pytestmark = pytest.mark.slow
# the suite's small fraud model (~40,000 rows, 1,500 accounts): the pipeline in ~1 minute
TASK = LEARNT["transactions"][1:]  # its overrides, the task itself chosen by copy_project


def mlcycle(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MLCYCLE, *args], cwd=cwd, capture_output=True, text=True)


def recall_per_strategy(package: Path, project: Path, strategy: str) -> dict[str, float]:
    """Recall at the package's threshold on fresh transactions (a seed no traffic used)
    where every attack is `strategy`, and on the strategies the collection holds."""
    params = OmegaConf.load(project / "params.yaml")
    pkg = load_package(package)
    out = {}
    for name, table in (
        (strategy, switched(params, strategy, seed=77)),
        ("learnt", switched(params, "card_testing", seed=78)),
    ):
        fraud = table[table["label"] == "fraud"]
        fields = pkg.featurizer.cfg.fields
        rows = [{k: json_value(v) for k, v in r.items()} for r in fraud[fields].to_dict("records")]
        scores = pkg.predict_proba(rows)[:, pkg.labels.index("fraud")].numpy()
        out[name] = float(np.mean(scores >= pkg.decision["threshold"]))
    return out


def test_attackers_switch_monitoring_fires_labels_retrain_canary_promote(tmp_path):
    project = copy_project(tmp_path / "project", "transactions", TASK, [])
    sh(project, "dvc", "repro")
    sh(project, *GIT, "add", "-A")
    sh(project, *GIT, "commit", "-qm", "stable fraud model")
    stable = load_package(project / "models/package")

    with serving(project, *FAST_CANARY, *PATIENT, "monitor.gauges_s=1") as server:
        url = ["--url", server.url]
        # 1. transactions as the model knows them: its recall is not estimated to fall
        calm = mlcycle(project, "simulate", *url, "--count", "2000", "--concurrency", "8")
        assert calm.returncode == 0, calm.stderr
        mlcycle(project, "monitor", "--last", "2000")
        report = json.loads((project / "reports/monitoring.json").read_text())
        figures = report["versions"][stable.version]["figures"]
        assert figures["estimated_recall_change"] > -0.15, figures
        assert "estimated_recall_drop" not in {a["alert"] for a in report["alerts"]}

        # 2. attackers switch to bust_out: monitoring fires before any label arrives
        done = mlcycle(
            project, "simulate", *url, "--shift", "strategy:bust_out", "--count", "6000",
            "--concurrency", "8", "--seed", "1", "--labels-out", "labels.csv",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        alarm = mlcycle(project, "monitor", "--last", "6000")
        report = json.loads((project / "reports/monitoring.json").read_text())
        shifted = report["versions"][stable.version]["figures"]
        assert "estimated_recall_drop" in {a["alert"] for a in report["alerts"]}, alarm.stdout
        assert alarm.returncode == 1 and shifted["estimated_recall_change"] < -0.15

        # 3. the chargebacks arrive: the realised recall fell
        late = mlcycle(project, "monitor", "labels", "labels.csv", "--window", "60D")
        assert late.returncode == 1, late.stdout + late.stderr
        labelled = json.loads((project / "reports/monitoring_labels.json").read_text())
        total = labelled["versions"][stable.version]["total"]
        assert total["realised_recall"] < 0.35 and total["labelled_positives"] >= 40, total
        assert "realised_recall_low" in {a["alert"] for a in labelled["alerts"]}

        # 4. the answered rows with their labels into the pipeline, fine-tuned from stable
        exported = mlcycle(
            project, "monitor", "export", "--labels", "labels.csv",
            "--out", "data/external/feedback.csv",
        )  # fmt: skip
        assert exported.returncode == 0, exported.stderr
        feedback = pd.read_csv(project / "data/external/feedback.csv")
        assert len(feedback) == 6000 and (feedback["label"] == "fraud").sum() >= 40
        shutil.copytree(project / "models/package", project / "models/base/stable")
        sh(
            project, "dvc", "exp", "run", "-n", "retrained",
            "-S", "collect.sources=[transactions,table]",
            "-S", "collect.table.path=data/external/feedback.csv",
            "-S", "train.init_from=models/base/stable",
        )  # fmt: skip
        before = recall_per_strategy(project / "models/base/stable", project, "bust_out")
        after = recall_per_strategy(project / "models/package", project, "bust_out")
        print(f"recall on fresh bust_out / learnt attacks: stable {before}, retrained {after}")
        assert after["bust_out"] >= before["bust_out"] + 0.3, (before, after)
        assert after["learnt"] >= before["learnt"] - 0.15, (before, after)

        # 5. out as a canary, judged on traffic, promoted
        candidate = load_package(project / "models/package")
        assert candidate.card["fine_tuned_from"]["version"] == stable.version
        started = server.admin("/admin/canary", {"package": str(project / "models/package")})
        assert started.status_code == 200, started.text
        for i in range(20):
            mlcycle(project, "simulate", *url, "--count", "100", "--seed", str(10 + i))
            if server.models()["rollout"]["status"] != "progressing":
                break
        models = server.models()
    verdicts = [(h.get("failed"), h.get("error_rate")) for h in models["rollout"]["history"]]
    assert models["rollout"]["status"] == "promoted", verdicts
    assert models["stable"]["version"] == candidate.version
