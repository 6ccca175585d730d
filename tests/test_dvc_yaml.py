"""dvc.yaml says what each stage depends on, and it is the truth: the code each stage runs,
the params it reads and every path, from one home."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlcycle.cli import STAGES
from mlcycle.stages import train
from tests.conftest import ROOT, compose_params, run_as_dvc
from tests.import_graph import carries_code, closure

PIPELINE = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def entries(stage: dict, section: str) -> list[str]:
    return [e if isinstance(e, str) else next(iter(e)) for e in stage.get(section, [])]


def test_the_pipeline_is_the_stages_the_cli_runs():
    assert tuple(PIPELINE) == STAGES
    for name, stage in PIPELINE.items():
        assert stage["cmd"] == f"python -m mlcycle.stages.{name}"


@pytest.mark.parametrize("name", STAGES)
def test_each_stage_lists_exactly_the_source_files_it_runs(name):
    runs = {
        p.relative_to(ROOT).as_posix()
        for p in closure(f"mlcycle.stages.{name}")
        if p.name != "__init__.py" or carries_code(p)
    }
    listed = {d for d in entries(PIPELINE[name], "deps") if d.startswith("src/")}
    assert not runs - listed, f"stage {name} runs {sorted(runs - listed)}, not in its deps"
    assert not listed - runs, f"stage {name} lists {sorted(listed - runs)}, which it never runs"


def test_every_data_path_is_interpolated_from_params():
    for name, stage in PIPELINE.items():
        for section in ("deps", "outs", "metrics", "plots"):
            for path in entries(stage, section):
                if not path.startswith("src/"):
                    assert path.startswith("${paths."), f"{name}.{section}: {path} is literal"


def dvc(cwd: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["dvc", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_changing_a_path_in_conf_changes_the_dag(tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    shutil.copytree(ROOT / ".dvc", tmp_path / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    shutil.copyfile(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "params.yaml").write_text(compose_params(["paths.raw=data/collected"]))
    dag = dvc(tmp_path, "dag", "--outs", "--md")
    assert "data/collected" in dag and "data/raw" not in dag
    stages = dvc(tmp_path, "stage", "list")
    assert "Outputs data/collected" in stages


def test_a_stage_reading_an_undeclared_param_stops_naming_it(
    trained_dir, tmp_path, monkeypatch, capsys
):
    shutil.copytree(trained_dir, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    pipeline["stages"]["train"]["params"].remove("task.modality")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(pipeline))
    assert run_as_dvc(train) == 2
    err = capsys.readouterr().err
    assert "reads param 'task.modality'" in err and "dvc.yaml" in err


def test_a_declared_param_missing_from_params_yaml_is_named(small_workdir, capsys):
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    pipeline["stages"]["train"]["params"].append("train.momentum")
    (small_workdir / "dvc.yaml").write_text(yaml.safe_dump(pipeline))
    assert run_as_dvc(train) == 2
    assert "train.momentum" in capsys.readouterr().err
