"""End to end: `dvc repro`, `dvc exp run`, `dvc metrics diff`, `dvc plots show` on a tiny
configuration, in a temporary git copy of the project (never in the working tree)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from tests.conftest import ROOT, SMALL

pytestmark = pytest.mark.slow
STAGES = ("collect", "validate", "featurize", "train", "evaluate", "gate", "package")
BIN = Path(sys.executable).parent


def sh(cwd: Path, *args: str, stdout_only: bool = False) -> str:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "PYTHONUNBUFFERED": "1",
        # the copy's own code, not the editable install's (a code change must take effect)
        "PYTHONPATH": str(cwd / "src"),
    }
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout if stdout_only else done.stdout + done.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The project's files copied to a fresh git repository, conf/ shrunk by SMALL."""
    dest = tmp_path_factory.mktemp("project")
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    for name in filter(None, files):
        if (ROOT / name).is_file() and not name.startswith(("data/raw", "models/serving")):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    for name in ("dvc.lock", "metrics", "plots", "reports"):  # start from nothing
        shutil.rmtree(dest / name, ignore_errors=True)
        (dest / name).unlink(missing_ok=True) if (dest / name).is_file() else None
    # A primary config that is the real one shrunk; `dvc exp run` composes it too. The
    # keywords source shrinks in a task of its own, so `-S task=digits` drops it.
    keywords = [o for o in SMALL if o.startswith("collect.keywords.")]
    task = OmegaConf.merge({"defaults": ["keywords"]}, OmegaConf.from_dotlist(keywords))
    (dest / "conf/task/keywords_small.yaml").write_text(
        "# @package _global_\n" + OmegaConf.to_yaml(task)
    )
    common = OmegaConf.from_dotlist([o for o in SMALL if o not in keywords])
    defaults = {"defaults": ["config", {"override task": "keywords_small"}, "_self_"]}
    OmegaConf.save(OmegaConf.merge(defaults, common), dest / "conf/smoke.yaml")
    sh(dest, sys.executable, "-m", "mlcycle.config", "--config-name", "smoke")
    sh(dest, "git", "init", "-q")
    sh(dest, "dvc", "config", "hydra.config_name", "smoke")
    sh(dest, "git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    sh(dest, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return dest


@pytest.fixture(scope="module")
def reproduced(project: Path) -> str:
    out = sh(project, "dvc", "repro")
    sh(project, "git", "add", "-A")
    sh(project, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "run")
    return out


def test_repro_runs_every_stage_and_writes_outputs(project, reproduced):
    for stage in STAGES:
        assert f"Running stage '{stage}'" in reproduced
    for out in (
        "data/raw/manifest.csv",
        "data/validated/manifest.csv",
        "data/validated/rejected.csv",
        "data/features/stats.json",
        "models/model.ckpt",
        "metrics/data.json",
        "metrics/train.json",
        "metrics/eval.json",
        "plots/confusion.csv",
        "metrics/gate.json",
        "models/package/card.json",
        "reports/misclassified.csv",
    ):
        assert (project / out).is_file(), out
    metrics = json.loads((project / "metrics/eval.json").read_text())
    assert 0 <= metrics["accuracy"] <= 1 and metrics["params"] > 0


def test_second_repro_is_up_to_date(project, reproduced):
    out = sh(project, "dvc", "repro")
    assert "Running stage" not in out
    assert "up to date" in out


def test_a_decoder_change_reruns_every_stage_that_decodes(project, reproduced):
    decoder = project / "src/mlcycle/data/audio_io.py"
    original = decoder.read_text()
    decoder.write_text(original + "# a comment\n")
    status = json.loads(sh(project, "dvc", "status", "--json", stdout_only=True))
    changed = {
        stage
        for stage, changes in status.items()
        for change in changes
        if isinstance(change, dict)
        and "src/mlcycle/data/audio_io.py" in change.get("changed deps", {})
    }
    assert changed == {"collect", "validate", "featurize", "evaluate", "package"}, status
    # A real change of behaviour (clips decoded backwards) reaches the features.
    before = yaml.safe_load((project / "dvc.lock").read_text())["stages"]["featurize"]["outs"]
    reversed_pcm = original.replace(
        'pcm.astype(np.float32, order="C")', 'pcm[:, ::-1].astype(np.float32, order="C")'
    )
    assert reversed_pcm != original
    decoder.write_text(reversed_pcm)
    out = sh(project, "dvc", "repro", "featurize")
    assert "Running stage 'validate'" in out and "Running stage 'featurize'" in out
    after = yaml.safe_load((project / "dvc.lock").read_text())["stages"]["featurize"]["outs"]
    assert before[0]["md5"] != after[0]["md5"]
    # back to the committed code, run and outputs for the tests that follow
    sh(project, "git", "checkout", "--", ".")
    sh(project, "dvc", "checkout", "--force")
    assert "up to date" in sh(project, "dvc", "status")


def test_exp_run_on_train_param_reruns_only_train_and_what_follows(project, reproduced):
    out = sh(project, "dvc", "exp", "run", "-n", "faster", "-S", "train.lr=0.02")
    ran = {s for s in STAGES if f"Running stage '{s}'" in out}
    assert ran == {"train", "evaluate", "gate", "package"}, out
    # Hydra composition wrote the override into params.yaml for the experiment.
    assert OmegaConf.load(project / "params.yaml").train.lr == 0.02
    table = sh(project, "dvc", "exp", "show", "--csv")
    header, *rows = list(csv.reader(io.StringIO(table)))
    lr, acc = header.index("train.lr"), header.index("accuracy")
    by_name = {row[header.index("Experiment")]: row for row in rows}
    assert by_name["faster"][lr] == "0.02"
    assert by_name["faster"][acc] != ""
    diff = sh(project, "dvc", "metrics", "diff", "HEAD", "faster", "--json")
    assert "metrics/eval.json" in json.loads(diff)


def test_plots_show_renders_curves_and_confusion(project, reproduced, tmp_path):
    sh(project, "dvc", "plots", "show", "-o", str(tmp_path / "plots"))
    html = (tmp_path / "plots/index.html").read_text()
    assert "confusion.csv" in html and "val/acc.tsv" in html
    assert "class_balance.csv" in html and "hist/duration_s.csv" in html


def test_own_images_imported_with_dvc_import_url_run_through_the_pipeline(
    project, reproduced, tmp_path
):
    from tests.stages.test_digits_and_own_data import user_images

    user_images(tmp_path / "scans", per_label=6)
    sh(project, "dvc", "import-url", str(tmp_path / "scans"), "data/external/scans")
    sh(project, "git", "add", "-A")
    sh(project, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "import")
    out = sh(
        project,
        "dvc",
        "exp",
        "run",
        "-n",
        "own-digits",
        "-S",
        "task=digits",
        "-S",
        "collect.sources=[digits,folder]",
        "-S",
        "collect.folder.root=data/external/scans",
        "-S",
        "collect.digits.limit=300",
    )
    for stage in STAGES:
        assert f"Running stage '{stage}'" in out
    raw = (project / "data/raw/manifest.csv").read_text()
    assert raw.count(",folder,") == 60
    metrics = json.loads((project / "metrics/eval.json").read_text())
    assert len(metrics["per_class"]) == 10
    table = sh(project, "dvc", "exp", "show", "--csv")
    assert "own-digits" in table


def test_queued_two_point_sweep_gives_two_experiments(project, reproduced):
    import time

    sh(project, "dvc", "exp", "run", "--queue", "-S", "train.lr=0.004,0.03")
    sh(project, "dvc", "queue", "start", "-j", "1")
    deadline = time.time() + 600
    while time.time() < deadline:
        status = sh(project, "dvc", "queue", "status")
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(3)
    assert status.count("Success") >= 2, status
    table = sh(project, "dvc", "exp", "show", "--csv")
    header, *rows = list(csv.reader(io.StringIO(table)))
    lr, acc, gate = header.index("train.lr"), header.index("accuracy"), header.index("passed")
    swept = {row[lr]: row for row in rows if row[lr] in ("0.004", "0.03")}
    assert set(swept) == {"0.004", "0.03"}, table
    assert all(row[acc] != "" and row[gate] != "" for row in swept.values())


def test_model_card_names_the_dvc_hashes_of_its_data(project, reproduced):
    card = json.loads((project / "models/package/card.json").read_text())
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    outs = {o["path"]: o["md5"] for stage in lock.values() for o in stage.get("outs", [])}
    assert card["data"] == {p: outs[p] for p in ("data/raw", "data/validated", "data/features")}
    assert all(h.endswith(".dir") for h in card["data"].values())
