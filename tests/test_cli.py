"""The installed `mlcycle` command."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from mlcycle.cli import STAGES

MLCYCLE = Path(sys.executable).parent / "mlcycle"


def mlcycle(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([MLCYCLE, *args], cwd=cwd, capture_output=True, text=True)


def test_help_lists_the_subcommands():
    done = mlcycle("--help")
    assert done.returncode == 0, done.stderr
    assert "run" in done.stdout and "params" in done.stdout


def test_run_help_lists_every_stage():
    done = mlcycle("run", "--help")
    assert done.returncode == 0 and all(stage in done.stdout for stage in STAGES)


def test_run_a_stage_with_overrides(trained_dir, tmp_path):
    shutil.copytree(trained_dir, tmp_path, dirs_exist_ok=True)

    def accuracy_check(*overrides: str) -> dict:
        done = mlcycle("run", "gate", *overrides, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "[gate] accuracy" in done.stderr
        checks = json.loads((tmp_path / "metrics/gate.json").read_text())["checks"]
        return next(c for c in checks if c["metric"] == "accuracy")

    # the override reaches the stage: the same model passes one target and fails the other
    low = accuracy_check("scope.targets.accuracy.min=0.0")
    assert low["target"] == ">= 0.0" and low["verdict"] == "pass"
    high = accuracy_check("scope.targets.accuracy.min=0.9999")
    assert high["target"] == ">= 0.9999" and high["verdict"] != "pass"


def test_run_reports_a_bad_override_by_name(workdir):
    done = mlcycle("run", "train", "train.lrate=0.1", cwd=workdir)
    assert done.returncode == 2 and "train.lrate" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_stage_is_refused_with_the_choices():
    done = mlcycle("run", "deploy")
    assert done.returncode == 2 and "collect" in done.stderr


def test_params_check_passes_on_the_committed_params_yaml():
    root = Path(__file__).resolve().parents[1]
    done = mlcycle("params", "--check", cwd=root)
    assert done.returncode == 0, done.stderr


def test_progress_bars_only_on_a_terminal(small_workdir):
    """collect shows a bar on a terminal and stays quiet in a log."""
    import fcntl
    import pty
    import struct
    import termios

    quiet = mlcycle("run", "collect", "collect.keywords.speakers=10", cwd=small_workdir)
    assert quiet.returncode == 0 and "synthesising" not in quiet.stderr
    # the one summary line (and, when another test's stage runs beside it, its share)
    lines = [x for x in quiet.stderr.splitlines() if "cores shared by" not in x]
    assert len(lines) == 1 and lines[0].startswith("[collect] collected"), quiet.stderr
    assert "\r" not in quiet.stderr
    main, child = pty.openpty()
    # a terminal of 30 rows x 100 columns (a new pty has none, and tqdm draws nothing)
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        [MLCYCLE, "run", "collect", "collect.keywords.speakers=10"],
        cwd=small_workdir,
        stdout=child,
        stderr=child,
    )
    os.close(child)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait() == 0
    assert b"synthesising" in seen and b"clip" in seen
