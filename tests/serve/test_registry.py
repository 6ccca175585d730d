"""The model registry with the real `dvc` and `gto`, in a temporary git repository: the
package as a dvc.yaml artifact, versions and stages as GTO tags, `serve --package
name@prod`, `canary start name@version`, `canary promote --assign prod`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlcycle import registry
from mlcycle.models.package import load_package
from tests.serve.conftest import MLCYCLE, TOKEN, serving

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_the_projects_package_is_declared_as_a_model_artifact():
    from mlcycle.config import load

    artifacts = yaml.safe_load((ROOT / "dvc.yaml").read_text())["artifacts"]
    (name,) = artifacts
    assert artifacts[name]["type"] == "model"
    assert artifacts[name]["path"] == load().paths.package


def run(cwd: Path, *command: str) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done.stdout


def commit_package(repo: Path, package: Path, version: str) -> None:
    shutil.rmtree(repo / "models/package", ignore_errors=True)
    shutil.copytree(package, repo / "models/package")
    run(repo, "dvc", "add", "-q", "models/package")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", f"package {version}")
    run(repo, "gto", "register", "digits", "--version", version)


@pytest.fixture
def repo(digits_dir, digits_packages, tmp_path) -> Path:
    """digits_dir as a git + DVC repository whose registry holds digits v1.0.0 (in prod)
    and v1.1.0 (another model, no stage)."""
    repo = digits_dir
    shutil.rmtree(repo / "models/package")
    run(repo, "git", "init", "-q")
    run(repo, "git", "config", "user.email", "test@example.com")
    run(repo, "git", "config", "user.name", "test")
    run(repo, "dvc", "init", "-q")
    run(repo, "dvc", "config", "core.analytics", "false")
    declared = {"digits": {"path": "models/package", "type": "model"}}
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"artifacts": declared}))
    (repo / ".gitignore").write_text("serve-*.log\nmodels/rollout.json\nmodels/serving/\n")
    commit_package(repo, digits_packages["stable"], "v1.0.0")
    run(repo, "gto", "assign", "digits", "--version", "v1.0.0", "--stage", "prod")
    commit_package(repo, digits_packages["good"], "v1.1.0")
    return repo


@pytest.mark.slow  # servers, a rollout (and dvc + gto): a minute or more
def test_serve_a_stage_roll_out_a_version_and_move_the_stage(repo, digits_packages):
    v1 = load_package(digits_packages["stable"]).version
    v2 = load_package(digits_packages["good"]).version
    # a stage or version that is not in the registry stops serve before any loading
    refused = subprocess.run(
        [MLCYCLE, "serve", "--package", "digits@staging"], cwd=repo, capture_output=True, text=True
    )
    assert refused.returncode == 2 and "digits @ staging" in refused.stderr
    with serving(repo, "--package", "digits@prod") as server:
        stable = server.models()["stable"]
        assert stable["version"] == v1 and stable["registry"] == "digits@v1.0.0"
        assert Path(stable["path"]) == Path("models/registry/digits/v1.0.0")
        missing = server.admin("/admin/canary", {"package": "digits@v9.9.9"})
        assert missing.status_code == 404 and "digits @ v9.9.9" in missing.json()["detail"]
        started = server.admin("/admin/canary", {"package": "digits@v1.1.0"})
        assert started.status_code == 200, started.text
        canary = server.models()["canary"]
        assert canary["version"] == v2 and canary["registry"] == "digits@v1.1.0"
        env = {**os.environ, "MLCYCLE_ADMIN_TOKEN": TOKEN}
        cli = [MLCYCLE, "canary", "promote", "--assign", "prod", "--url", server.url]
        done = subprocess.run(cli, cwd=repo, capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        assert "assigned prod to digits@v1.1.0" in done.stdout
        assert server.models()["stable"]["version"] == v2
    # the stage tag moved: DVC's API and gto see v1.1.0 in prod
    tags = run(repo, "git", "tag").split()
    assert "digits@v1.1.0" in tags and "digits#prod#2" in tags
    assert registry.resolve("digits@prod", str(repo), str(repo / "models")).version == "v1.1.0"
