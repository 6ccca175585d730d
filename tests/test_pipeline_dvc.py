"""End to end: `dvc repro`, `dvc exp run`, `dvc metrics diff`, `dvc plots show` on a tiny
configuration, in a temporary git copy of the project (never in the working tree)."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from tests.conftest import SMALL
from tests.dvc_project import GIT, copy_project, sh

pytestmark = pytest.mark.slow
STAGES = ("collect", "validate", "featurize", "train", "review", "evaluate", "gate", "package")
# what may differ between two runs of the same code, params and data: time, not quality
TIMING = {"train_seconds", "train_samples_per_s"}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The project in a fresh git repository, conf/ shrunk by SMALL."""
    keywords = [o for o in SMALL if o.startswith(("collect.keywords.", "collect.pico.", "model="))]
    common = [o for o in SMALL if o not in keywords]
    return copy_project(tmp_path_factory.mktemp("project"), "keywords", keywords, common)


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
        "reports/label_review/label_review.csv",
        "reports/label_review/index.html",
    ):
        assert (project / out).is_file(), out
    metrics = json.loads((project / "metrics/eval.json").read_text())
    assert 0 <= metrics["accuracy"] <= 1 and metrics["params"] > 0


def test_second_repro_is_up_to_date(project, reproduced):
    out = sh(project, "dvc", "repro")
    assert "Running stage" not in out
    assert "up to date" in out


def lock_outs(project: Path) -> dict[str, str]:
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    return {o["path"]: o["md5"] for stage in lock.values() for o in stage.get("outs", [])}


def test_forced_repro_beside_a_busy_stage_reproduces_the_committed_metrics(project, reproduced):
    """Every stage run again (`dvc repro -f`) while a CPU-bound stage process shares the
    cores: `dvc metrics diff` against the commit shows time only, and every output but
    those that hold timings is the same file."""
    committed = lock_outs(project)
    busy = subprocess.Popen(
        [sys.executable, "-c", "while True: pass", "-m", "mlcycle.stages.featurize"]
    )
    try:
        out = sh(project, "dvc", "repro", "-f")
    finally:
        busy.kill()
        busy.wait()
    assert re.search(r"beside [1-9]\d* other running mlcycle stage", out), out
    diff = json.loads(sh(project, "dvc", "metrics", "diff", "HEAD", "--json", stdout_only=True))
    gate = json.loads((project / "metrics/gate.json").read_text())
    latency_checks = {
        f"checks.{i}.{key}"
        for i, check in enumerate(gate["checks"])
        if check["metric"].startswith("latency")
        for key in ("measured", "interval")
    }
    changed = {name for metrics in diff.values() for name in metrics}
    timing = {n for n in changed if n in TIMING or n.startswith("latency_") or n in latency_checks}
    assert changed == timing, diff
    # with timings in them: the metrics files, and the card in the package
    timed = {"metrics/train.json", "metrics/eval.json", "metrics/gate.json", "models/package"}
    again = lock_outs(project)
    assert {p: h for p, h in again.items() if p not in timed} == {
        p: h for p, h in committed.items() if p not in timed
    }
    weights = json.loads((project / "models/package/card.json").read_text())["weights_sha256"]
    sh(project, "git", "checkout", "HEAD", "--", ".")  # back to the commit, outputs too
    sh(project, "dvc", "checkout", "--force")
    card = json.loads((project / "models/package/card.json").read_text())
    assert card["weights_sha256"] == weights


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """An S3-compatible server (moto's server mode) on loopback with one empty bucket;
    yields what a DVC client needs to reach it."""
    pytest.importorskip("moto", reason="moto[server] is not installed (pip install -e .[dev])")
    pytest.importorskip("dvc_s3", reason="dvc-s3 is not installed (pip install -e .[dev])")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path_factory.mktemp("s3") / "moto.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    pytest.fail(f"moto server did not start on {url}")
                time.sleep(0.2)
        request = urllib.request.Request(f"{url}/mlcycle-team", method="PUT")
        urllib.request.urlopen(request, timeout=5)  # the bucket
        yield {
            "url": url,
            "bucket": "s3://mlcycle-team/dvcstore",
            "env": {
                "AWS_ACCESS_KEY_ID": "team",
                "AWS_SECRET_ACCESS_KEY": "team-secret",
                "AWS_DEFAULT_REGION": "us-east-1",
            },
        }
    finally:
        server.terminate()
        server.wait(10)
        log.close()


def test_team_shares_data_models_and_experiments_through_an_s3_remote(
    project, reproduced, s3, tmp_path, monkeypatch
):
    """README "Team": push from one clone, pull into a fresh one that is then up to date,
    and carry an experiment across with dvc exp push / pull."""
    for key, value in s3["env"].items():
        monkeypatch.setenv(key, value)
    origin = tmp_path / "origin.git"
    sh(tmp_path, "git", "init", "-q", "--bare", str(origin))
    sh(project, "dvc", "remote", "add", "-f", "-d", "storage", s3["bucket"])
    sh(project, "dvc", "remote", "modify", "storage", "endpointurl", s3["url"])
    sh(project, *GIT, "add", ".dvc/config")
    sh(project, *GIT, "commit", "-qm", "DVC remote: the team's S3 bucket")
    sh(project, "git", "remote", "add", "origin", str(origin))
    sh(project, "git", "push", "-q", "origin", "HEAD:refs/heads/main")
    pushed = sh(project, "dvc", "push")
    assert "pushed" in pushed, pushed

    # A team mate: a fresh clone, data and models from the remote, nothing to recompute.
    mate = tmp_path / "mate"
    sh(tmp_path, "git", "clone", "-q", "-b", "main", str(origin), str(mate))
    assert not (mate / "models/package").exists()
    sh(mate, "dvc", "pull")
    card = "models/package/card.json"
    assert (mate / card).read_bytes() == (project / card).read_bytes()
    status = sh(mate, "dvc", "status")
    assert "Data and pipelines are up to date" in status, status
    again = sh(mate, "dvc", "repro")
    assert "Running stage" not in again and "up to date" in again, again

    # An experiment run in the first clone reaches the team mate with its results.
    sh(project, "dvc", "exp", "run", "-n", "shared-lr", "-S", "train.lr=0.03")
    sh(project, "dvc", "exp", "push", "origin", "shared-lr")
    sh(mate, "dvc", "exp", "pull", "origin", "shared-lr")
    assert "shared-lr" in sh(mate, "dvc", "exp", "list", "--name-only", stdout_only=True)
    sh(mate, "dvc", "exp", "apply", "shared-lr")
    eval_json = "metrics/eval.json"
    assert (mate / eval_json).read_text() == (project / eval_json).read_text()
    assert OmegaConf.load(mate / "params.yaml").train.lr == 0.03
    status = sh(mate, "dvc", "status")  # the experiment's outputs came from the remote
    assert "Data and pipelines are up to date" in status, status


def test_exp_run_on_train_param_reruns_only_train_and_what_follows(project, reproduced):
    out = sh(project, "dvc", "exp", "run", "-n", "faster", "-S", "train.lr=0.02")
    ran = {s for s in STAGES if f"Running stage '{s}'" in out}
    assert ran == {"train", "review", "evaluate", "gate", "package"}, out
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

    sh(project, "dvc", "exp", "run", "--queue", "-S", "train.lr=0.004,0.03")
    sh(project, "dvc", "queue", "start", "-j", "2")  # two at a time, sharing the cores
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


def test_exp_run_on_the_transactions_task_runs_every_stage_on_rows(project, reproduced):
    """The fraud example as a user starts it: `dvc exp run -S task=transactions`."""
    out = sh(
        project,
        # ~model.width: the suite's smoke config shrinks the audio network, not this one
        *("dvc", "exp", "run", "-n", "fraud", "-S", "task=transactions", "-S", "~model.width"),
        *("-S", "collect.transactions.accounts=800", "-S", "validate.min_per_class=5"),
    )
    assert {s for s in STAGES if f"Running stage '{s}'" in out} == set(STAGES), out
    metrics = json.loads((project / "metrics/eval.json").read_text())
    assert 0 < metrics["pr_auc"] <= 1 and "gradient_boosting" in metrics["baseline"]
    card = json.loads((project / "models/package/card.json").read_text())
    assert card["modality"] == "table" and card["decision"]["positive"] == "fraud"
    table = sh(project, "dvc", "exp", "show", "--csv")
    header, *rows = list(csv.reader(io.StringIO(table)))
    by_name = {row[header.index("Experiment")]: row for row in rows}
    assert by_name["fraud"][header.index("pr_auc")] != ""


def test_a_decoder_change_reruns_every_stage_that_decodes(project, reproduced):
    """Last in this module: it changes the project's code."""
    # back to the committed keywords run: the experiments above left theirs in the
    # workspace, and in git's index too (so from HEAD, not from the index)
    sh(project, "git", "checkout", "HEAD", "--", ".")
    sh(project, "dvc", "checkout", "--force")
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
    # train too: fine-tuning loads a package, featurizer and decoder included
    assert changed == {"collect", "validate", "featurize", "train", "evaluate", "package"}, status
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
    assert before[0]["md5"] != after[0]["md5"], out
