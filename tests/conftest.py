"""Fixtures: the real composed config, shrunk, in a temporary working directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import mlcycle  # noqa: F401  (first: it sets OMP_WAIT_POLICY before torch loads)

ROOT = Path(__file__).resolve().parents[1]

# A collection small enough for seconds, big enough that every split has speakers.
SMALL = [
    "collect.keywords.speakers=40",
    "collect.keywords.repeats=1",
    "collect.keywords.unknown_per_speaker=2",
    "collect.keywords.silence_per_speaker=1",
    "collect.pico.speakers=10",
    "collect.pico.held_out_speakers=4",
    "collect.defect_fraction=0.03",
    "validate.min_per_class=2",
    "train.max_epochs=2",
    # exactly max_epochs, steered by the (small) validation split, as before small-data
    # scheduling; tests/models/test_training.py exercises that on its own
    "train.min_steps=0",
    "train.min_val_per_class=0",
    # The suite's pipeline runs train the small DS-CNN: a BC-ResNet step costs 3x as much
    # at any width (many small ops). The default network is built and trained by
    # tests/models/test_bcresnet.py and fine-tuned from tests/assets' package.
    "model=dscnn",
    "model.width=16",
    "evaluate.latency_runs=5",
]


# The 12 classes of the keywords task, as a user sees them in every output.
KEYWORD_LABELS = [
    "yes",
    "no",
    "up",
    "down",
    "left",
    "right",
    "on",
    "off",
    "stop",
    "go",
    "_unknown_",
    "_silence_",
]

# The reason validate gives for each image defect kind collect injects.
IMAGE_DEFECT_REASONS = {
    "empty": "empty",
    "truncated": "undecodable",
    "not_image": "undecodable",
    "tiny": "size",
    "wrong_mode": "mode",
}

# The reason validate gives for each defect kind collect injects.
DEFECT_REASONS = {
    "empty": "empty",
    "truncated": "truncated",
    "silent": "silent",
    "clipped": "clipped",
    "wrong_rate": "sample_rate",
    "stereo": "channels",
}


def run_as_dvc(stage, args=()) -> int:
    """stage.main(args) in the cwd as `dvc repro` runs it: with the project's dvc.yaml and
    DVC_STAGE set, so the stage sees only the params dvc.yaml declares for it."""
    import shutil

    if not Path("dvc.yaml").exists():
        shutil.copyfile(ROOT / "dvc.yaml", "dvc.yaml")
    name = stage.__name__.rsplit(".", 1)[-1]
    old = os.environ.get("DVC_STAGE")
    os.environ["DVC_STAGE"] = name
    try:
        return stage.main(list(args))
    finally:
        os.environ.pop("DVC_STAGE") if old is None else os.environ.update(DVC_STAGE=old)


def run_stages_in(path: Path, *stages) -> None:
    """Run stages as DVC does with `path` as the working directory; each must succeed."""
    old = os.getcwd()
    os.chdir(path)
    try:
        for stage in stages:
            assert run_as_dvc(stage) == 0, stage.__name__
    finally:
        os.chdir(old)


def compose_params(overrides: list[str]) -> str:
    from mlcycle.config import compose

    return compose(overrides, conf_dir=ROOT / "conf")


def task_params(overrides: list[str] = ()):
    """The real composed config (typed), as a stage sees it."""
    from omegaconf import OmegaConf

    from mlcycle.config import validate

    return validate(OmegaConf.create(compose_params(list(overrides))))


def audio_features(**changes):
    """The keywords task's featurize.audio as the featurizer's config."""
    from omegaconf import OmegaConf

    from mlcycle.params import AudioFeatures

    cfg = OmegaConf.to_container(task_params().featurize.audio)
    return AudioFeatures(**{**cfg, **changes})


def image_features(**changes):
    """The digits task's featurize.image as the featurizer's config."""
    from omegaconf import OmegaConf

    from mlcycle.params import ImageFeatures

    cfg = OmegaConf.to_container(task_params(["task=digits"]).featurize.image)
    return ImageFeatures(**{**cfg, **changes})


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty project directory holding the default params.yaml, as the cwd."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(compose_params([]))
    return tmp_path


@pytest.fixture
def small_workdir(tmp_path, monkeypatch):
    """A project directory whose params.yaml is the real config shrunk by SMALL."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(compose_params(SMALL))
    return tmp_path


def built_once(tmp_path_factory, name: str, build) -> Path:
    """A folder that `build(folder)` fills, built once per run and copied for each worker.

    Under pytest-xdist every worker has its own session: the first worker to need the
    folder builds it under a lock, in the run's shared temporary folder, and every worker
    gets a copy of its own (servers and stages write into it). Without xdist: built here.
    """
    import shutil

    from filelock import FileLock

    path = tmp_path_factory.mktemp(name)
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        build(path)
        return path
    shared = tmp_path_factory.getbasetemp().parent / f"shared-{name}"
    with FileLock(f"{shared}.lock"):
        if not shared.is_dir():
            partial = shared.with_name(shared.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            build(partial)
            partial.rename(shared)
    shutil.copytree(shared, path, dirs_exist_ok=True, symlinks=True)
    return path


@pytest.fixture(scope="session")
def collected(tmp_path_factory):
    """A small collection + validation run once per session; returns its directory."""
    from mlcycle.stages import collect, validate

    def build(path: Path) -> None:
        (path / "params.yaml").write_text(compose_params(SMALL))
        run_stages_in(path, collect, validate)

    return built_once(tmp_path_factory, "collected", build)


@pytest.fixture(scope="session")
def trained_dir(collected, tmp_path_factory):
    """featurize -> train -> evaluate on the small collection, in a copy of its directory."""
    import shutil

    from mlcycle.stages import evaluate, featurize, train

    def build(path: Path) -> None:
        shutil.copytree(collected, path, dirs_exist_ok=True)
        run_stages_in(path, featurize, train, evaluate)

    return built_once(tmp_path_factory, "trained", build)


@pytest.fixture
def features_dir(collected, tmp_path, monkeypatch):
    """A copy of the small collection, featurized, as the cwd: ready to train."""
    import shutil

    from mlcycle.stages import featurize

    shutil.copytree(collected, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    assert featurize.main([]) == 0
    return tmp_path


# Small, but trained well enough that a collapsed model fails the quality checks, with the
# scope lowered to what such a model reaches, so that its gate passes (a canary needs it).
LEARNT = {
    "keywords": SMALL
    + [
        "collect.keywords.speakers=120",
        "collect.pico.speakers=20",
        "collect.pico.held_out_speakers=8",
        "scope.targets.held_out_accuracy.min=0.05",
        "train.max_epochs=12",
        "train.patience=12",
        "scope.targets.accuracy.min=0.2",
        "scope.targets.macro_f1.min=0.1",
    ],
    "digits": [
        "task=digits",
        "collect.digits.limit=600",
        "train.max_epochs=6",
        "train.min_steps=0",
        "model.width=16",
        "evaluate.latency_runs=5",
        "scope.targets.accuracy.min=0.8",
        "scope.targets.macro_f1.min=0.8",
    ],
    # fraud on tables: 1,500 accounts (~40,000 rows, ~85 frauds in test) in ~35 s
    "transactions": [
        "task=transactions",
        "collect.transactions.accounts=1500",
        "validate.min_per_class=10",
        "train.max_epochs=4",
        "train.min_steps=0",
        "evaluate.latency_runs=5",
        "evaluate.table.bootstrap=50",
        "scope.targets.pr_auc.min=0.4",
        "scope.targets.recall_at_precision.min=0.2",
    ],
}
# accuracy such a model reaches (measured 0.33 and 0.91); chance is 1/12 and 1/10
MIN_ACCURACY = {"keywords": 0.25, "digits": 0.8}


@pytest.fixture(scope="session")
def learnt(tmp_path_factory):
    """learnt(task): a folder where the whole pipeline ran on LEARNT[task] (built once)."""
    from mlcycle.stages import collect, evaluate, featurize, gate, package, train, validate

    built = {}

    def build(task: str) -> Path:
        if task not in built:

            def run_pipeline(path: Path) -> None:
                (path / "params.yaml").write_text(compose_params(LEARNT[task]))
                run_stages_in(path, collect, validate, featurize, train, evaluate, gate, package)

            built[task] = built_once(tmp_path_factory, f"learnt-{task}", run_pipeline)
        return built[task]

    return build


# The test files that take longest (most of them build a model or run DVC end to end),
# first: pytest-xdist (--dist loadfile) hands files out in this order, so the long ones
# run side by side instead of one of them starting last.
LONGEST_FIRST = [
    "tests/test_pipeline_dvc.py",
    "tests/serve/test_server.py",
    "tests/monitor/test_loop.py",
    "tests/models/test_finetune.py",
    "tests/models/test_package.py",
    "tests/serve/test_rollout.py",
]


def pytest_collection_modifyitems(config, items) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
