"""A copy of the project in a fresh git repository, its conf/ shrunk, for DVC end to end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]


def sh(cwd: Path, *args: str, stdout_only: bool = False) -> str:
    """Run a command in the copy with the copy's own code; it must succeed."""
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "PYTHONUNBUFFERED": "1",
        # the copy's own code, not the editable install's (a code change must take effect)
        "PYTHONPATH": str(cwd / "src"),
    }
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout if stdout_only else done.stdout + done.stderr


def copy_project(dest: Path, task: str, task_overrides: list[str], overrides: list[str]) -> Path:
    """The tracked and untracked files (no outputs) in `dest`, git-initialised and committed.

    The primary config `smoke` is the real one with `overrides`, its task `<task>_small`
    the real task with `task_overrides`, so `-S task=...` drops the latter; `dvc exp run`
    composes the same.
    """
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
        path = dest / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    # a group's choice (model=dscnn) goes into the defaults list, values into the body
    groups = [o.split("=", 1) for o in task_overrides if "." not in o.split("=", 1)[0]]
    values = [o for o in task_overrides if "." in o.split("=", 1)[0]]
    chosen = [{f"override /{group}": choice} for group, choice in groups]
    small = OmegaConf.merge({"defaults": [task, *chosen]}, OmegaConf.from_dotlist(values))
    (dest / f"conf/task/{task}_small.yaml").write_text(
        "# @package _global_\n" + OmegaConf.to_yaml(small)
    )
    defaults = {"defaults": ["config", {"override task": f"{task}_small"}, "_self_"]}
    smoke = OmegaConf.merge(defaults, OmegaConf.from_dotlist(overrides))
    OmegaConf.save(smoke, dest / "conf/smoke.yaml")
    sh(dest, sys.executable, "-m", "mlcycle.config", "--config-name", "smoke")
    sh(dest, "git", "init", "-q")
    sh(dest, "dvc", "config", "hydra.config_name", "smoke")
    sh(dest, *GIT, "add", "-A")
    sh(dest, *GIT, "commit", "-qm", "init")
    return dest
