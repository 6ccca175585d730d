import numpy as np
import pandas as pd
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from mlcycle.error_analysis import (
    add_derived_columns,
    calibration,
    confused_pairs,
    slice_accuracy,
)
from tests.conftest import compose_params


def test_slices_rank_the_worst_first_and_skip_tiny_ones():
    frame = pd.DataFrame(
        {
            "accent": ["a"] * 10 + ["b"] * 10 + ["c"] * 2,
            "correct": [True] * 10 + [True] * 5 + [False] * 5 + [False] * 2,
        }
    )
    table = slice_accuracy(frame, ["accent"], min_count=5)
    assert list(table["value"]) == ["b", "a"] and list(table["accuracy"]) == [0.5, 1.0]


def test_derived_slices_variant_family_snr_bucket_and_size():
    frame = add_derived_columns(
        pd.DataFrame(
            {
                "variant": ["klatt3", "Klatt", "m1"],
                "snr_db": [5.0, 15.0, float("nan")],
                "width": [8.0, 16.0, 16.0],
                "height": [8.0, 16.0, 16.0],
            }
        )
    )
    assert list(frame["variant_family"]) == ["klatt", "klatt", "m"]
    assert list(frame["snr_bucket"]) == ["<10 dB", "10-20 dB", "no speech"]
    assert list(frame["size"]) == ["8x8", "16x16", "16x16"]


def test_confused_pairs_count_mistakes_only():
    y, pred = np.array([0, 0, 0, 1, 1, 2]), np.array([1, 1, 0, 0, 1, 2])
    assert confused_pairs(y, pred, ["a", "b", "c"]) == [
        {"true": "a", "predicted": "b", "count": 2},
        {"true": "b", "predicted": "a", "count": 1},
    ]


def test_calibration_error_of_a_perfectly_calibrated_and_an_overconfident_model():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 20000)
    ece, table = calibration(conf, rng.uniform(size=conf.size) < conf)
    assert ece < 0.02 and table["count"].sum() == 20000
    ece, _ = calibration(np.full(1000, 0.99), np.arange(1000) % 2 == 0)
    assert abs(ece - 0.49) < 1e-6


@pytest.mark.parametrize("task,shape", [("keywords", (1, 40, 51)), ("digits", (1, 16, 16))])
@pytest.mark.parametrize("model", ["bcresnet", "dscnn", "cnn", "resnet"])
def test_every_architecture_builds_for_every_task(task, shape, model):
    # BC-ResNet's sub-bands are sized for the input's height (model.n_mels)
    height = [f"model.n_mels={shape[1]}"] if model == "bcresnet" else []
    params = OmegaConf.create(compose_params([f"task={task}", f"model={model}", *height]))
    n = len(params.task.labels)
    net = instantiate(params.model, n_classes=n, in_channels=shape[0], _convert_="all")
    assert net(torch.zeros(2, *shape)).shape == (2, n)


def test_each_task_selects_its_own_default_architecture():
    assert "BCResNet" in OmegaConf.create(compose_params([])).model._target_
    assert "SmallCNN" in OmegaConf.create(compose_params(["task=digits"])).model._target_
