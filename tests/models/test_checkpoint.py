import pytest
import torch

from mlcycle.models.checkpoint import CheckpointError, load_network


def test_checkpoint_rebuilds_the_trained_network(trained_dir):
    net, hp = load_network(trained_dir / "models/model.ckpt")
    assert hp["n_classes"] == 12 and net(torch.zeros(2, 1, 40, 51)).shape == (2, 12)
    assert not net.training  # ready for inference: dropout off, batch norm frozen


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "model.ckpt"
    bad.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot load"):
        load_network(bad)


def test_missing_checkpoint_names_the_stage_to_run(tmp_path):
    with pytest.raises(CheckpointError, match="run the train stage"):
        load_network(tmp_path / "model.ckpt")
