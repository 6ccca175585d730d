"""Modalities are plug-ins: the core asks mlcycle.modalities for a modality's parts, so a
new one is its folder and its line in REGISTRY, and no core module names the table one."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from mlcycle import modalities
from mlcycle.serve.inputs import BadInput, check_content_type
from mlcycle.stages import collect

SRC = Path(modalities.__file__).parents[1]


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A modality that is nothing but its folder (a package outside mlcycle) and its line."""
    folder = tmp_path / "toymodality"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "collect.py").write_text(
        "from pathlib import Path\n"
        "def PART(params):\n"
        "    Path(params.paths.raw).write_text('collected by the toy modality')\n"
    )
    (folder / "serving.py").write_text(
        "from mlcycle.modalities.base import Serving\n"
        "class Toy(Serving):\n"
        "    content_types = ('text/csv',)\n"
        "    content_help = 'text/csv'\n"
        "    multipart = False\n"
        "PART = Toy()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(modalities.REGISTRY, "toy", "toymodality")
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("toymodality")]:
        del sys.modules[name]


def test_a_new_modality_is_its_folder_and_one_registry_line(toy):
    raw = toy / "raw.txt"
    params = OmegaConf.create({"task": {"modality": "toy"}, "paths": {"raw": str(raw)}})
    collect.collect(params)  # the stage, unchanged, runs the toy's part
    assert raw.read_text() == "collected by the toy modality"
    check_content_type("text/csv; charset=utf-8", "toy")  # the server asks it too
    with pytest.raises(BadInput, match="is not toy: send it as text/csv"):
        check_content_type("audio/wav", "toy")


def test_an_unknown_modality_or_part_is_named():
    with pytest.raises(ValueError, match="'video' is not a modality; choose from"):
        modalities.modality("video", "collect")
    with pytest.raises(ValueError, match="not 'deploy'"):
        modalities.modality("table", "deploy")


def test_every_registered_modality_has_every_part():
    for name in modalities.REGISTRY:
        for part in modalities.PARTS:
            assert modalities.modality(name, part) is not None, (name, part)


def test_no_core_module_names_the_table_modality():
    """The table modality touched its folder and the registry only: no module outside
    mlcycle/modalities/ compares with, or looks up, the name "table"."""
    named = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if "modalities" not in path.parts and re.search(r"[\"']table[\"']", path.read_text())
    ]
    assert named == []


# a modality's name compared with, or used as a key: `== "audio"`, `["image"]`, `"audio": `
BRANCH = re.compile(
    r"""(==|!=)\s*["'](audio|image|table)["']|["'](audio|image|table)["']\s*(==|!=|:(?!\w))"""
    r"""|\[\s*["'](audio|image|table)["']\s*\]"""
)


def test_no_core_module_branches_on_any_modality():
    """The stages, the server and the monitor ask a modality's parts for its specifics
    (checks, defects, statistics, shifts, decoders, slices, baselines' features): outside
    mlcycle/modalities/, no module compares a modality's name or looks one up in a table."""
    branching = [
        f"{path.relative_to(SRC)}:{n}: {line.strip()}"
        for path in SRC.rglob("*.py")
        if "modalities" not in path.parts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if BRANCH.search(line)
    ]
    assert branching == []
