"""The whole loop, as a team runs it: serve -> unshifted traffic fires no alert -> shifted
traffic fires the drift and input-quality alerts -> export + labels -> dvc exp run,
fine-tuned from the stable package -> the new package beats the old one on the shifted
data -> canary -> promoted."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcycle.models.package import load_package
from mlcycle.monitor.simulate import shift_image
from tests.dvc_project import GIT, copy_project, sh
from tests.serve.conftest import FAST_CANARY, MLCYCLE, PATIENT, serving

pytestmark = pytest.mark.slow
DIGITS = ["collect.digits.limit=0", "model.width=16"]  # all 1,797: a fair reference
COMMON = [
    "train.max_epochs=8",
    "train.min_steps=0",
    "evaluate.latency_runs=5",
    # what such a small model reaches: the gate must pass for a canary
    "scope.targets.accuracy.min=0.8",
    "scope.targets.macro_f1.min=0.8",
]
SHIFT = ["--shift", "dark:0.45", "--shift", "rotate:30", "--shift", "empty:0.15"]


def mlcycle(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MLCYCLE, *args], cwd=cwd, capture_output=True, text=True)


def accuracy_on_shifted(package: Path, project: Path) -> float:
    """Accuracy on the digits test split, darkened and rotated as the shifted traffic was."""
    manifest = pd.read_csv(project / "data/validated/manifest.csv", dtype=str)
    test = manifest[(manifest["split"] == "test") & (manifest["source"] == "digits")]
    pkg = load_package(package)
    shifted = [
        shift_image((project / p).read_bytes(), {"dark": 0.45, "rotate": 30.0})
        for p in test["path"]
    ]
    probs = pkg.predict_proba(shifted)
    return float(np.mean([pkg.labels[i] for i in probs.argmax(-1)] == test["label"].to_numpy()))


def test_monitor_export_retrain_canary_promote(tmp_path):
    project = copy_project(tmp_path / "project", "digits", DIGITS, COMMON)
    sh(project, "dvc", "repro")
    sh(project, *GIT, "add", "-A")
    sh(project, *GIT, "commit", "-qm", "stable model")
    stable = load_package(project / "models/package")

    with serving(project, *FAST_CANARY, *PATIENT, "monitor.gauges_s=1") as server:
        url = ["--url", server.url]
        # 1. traffic as the model knows it: no alert
        assert mlcycle(project, "simulate", *url, "--count", "200").returncode == 0
        calm = mlcycle(project, "monitor", "--last", "200")
        report = json.loads((project / "reports/monitoring.json").read_text())
        assert calm.returncode == 0 and report["alerts"] == [], calm.stdout
        # 2. the world changes: darker, rotated images, and 15 % empty uploads
        done = mlcycle(
            project,
            "simulate",
            *url,
            "--count",
            "300",
            "--split",
            "train",
            "--labels-out",
            "labels.csv",
            *SHIFT,
        )
        assert done.returncode == 0, done.stderr
        alarm = mlcycle(project, "monitor", "--last", "300")
        assert alarm.returncode == 1, alarm.stdout + alarm.stderr  # a critical alert fired
        report = json.loads((project / "reports/monitoring.json").read_text())
        fired = {a["alert"] for a in report["alerts"]}
        assert {"missing_inputs", "input_drift"} <= fired, report["alerts"]
        figures = report["versions"][stable.version]["figures"]
        assert 0.08 <= figures["missing_fraction"] <= 0.25 and figures["drift_share"] >= 0.5
        drifted = report["versions"][stable.version]["details"]["input_drift"]
        assert drifted["brightness"]["drift"] and drifted["contrast"]["drift"]
        assert "CRITICAL missing_inputs" in alarm.stdout
        with server.client() as client:  # the same figures, as Prometheus gauges
            metrics = client.get("/metrics").text
        assert f'mlcycle_monitor_missing_fraction{{model_version="{stable.version}"}}' in metrics

        # 3. the inputs, labelled, back into the pipeline, fine-tuned from stable
        exported = mlcycle(
            project,
            "monitor",
            "export",
            "--labels",
            "labels.csv",
            "--out",
            "data/external/feedback",
        )
        assert exported.returncode == 0, exported.stderr
        shutil.copytree(project / "models/package", project / "models/base/stable")
        sh(
            project,
            "dvc",
            "exp",
            "run",
            "-n",
            "retrained",
            "-S",
            "collect.sources=[digits,folder]",
            "-S",
            "collect.folder.root=data/external/feedback",
            "-S",
            "train.init_from=models/base/stable",
        )
        diff = sh(project, "dvc", "metrics", "diff", "HEAD", "--json", stdout_only=True)
        assert "metrics/eval.json" in json.loads(diff)
        old = accuracy_on_shifted(project / "models/base/stable", project)
        new = accuracy_on_shifted(project / "models/package", project)
        print(f"shifted test split: stable {old:.3f}, retrained {new:.3f}")
        assert new >= old + 0.1

        # 4. out as a canary, judged on traffic, promoted
        candidate = load_package(project / "models/package")
        assert candidate.card["fine_tuned_from"]["version"] == stable.version
        started = server.admin("/admin/canary", {"package": str(project / "models/package")})
        assert started.status_code == 200, started.text
        for _ in range(20):
            mlcycle(project, "simulate", *url, "--count", "60", "--seed", str(_))
            if server.models()["rollout"]["status"] != "progressing":
                break
        models = server.models()
    verdicts = [(h.get("failed"), h.get("error_rate")) for h in models["rollout"]["history"]]
    assert models["rollout"]["status"] == "promoted", verdicts
    assert models["stable"]["version"] == candidate.version
