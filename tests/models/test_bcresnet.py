"""BC-ResNet (conf/model/bcresnet.yaml) builds at the paper's sizes, trains a step, and
exports to ONNX with torch's probabilities, as every network a package may hold."""

import pytest
import torch
from omegaconf import OmegaConf

from mlcycle.models.bcresnet import BCResNet
from mlcycle.models.checkpoint import NETWORKS, build_network
from mlcycle.models.onnx_runtime import checked_export
from tests.conftest import ROOT


def test_widths_give_the_papers_parameter_counts():
    counts = {w: sum(p.numel() for p in BCResNet(12, 1, w).parameters()) for w in (1, 3)}
    assert 8_000 < counts[1] < 11_000 and 50_000 < counts[3] < 58_000  # ~9.2k and ~54k


def test_the_conf_entry_is_a_network_a_package_may_name_and_it_learns():
    cfg = OmegaConf.to_container(OmegaConf.load(ROOT / "conf/model/bcresnet.yaml"))
    assert cfg["_target_"] in NETWORKS
    # plain values only: what a package's card holds, built as loading one builds it
    net = build_network({"model": cfg, "n_classes": 12, "in_channels": 1})
    assert isinstance(net, BCResNet)
    x, y = torch.randn(16, 1, 40, 51), torch.randint(0, 12, (16,))
    optimiser = torch.optim.AdamW(net.parameters(), lr=0.01)
    losses = []
    for _ in range(15):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]  # it fits a small batch


def test_time_stride_halves_the_frames_the_blocks_see():
    x = torch.zeros(2, 1, 40, 51)
    for stride, frames in ((1, 51), (2, 26)):
        net = BCResNet(12, 1, 1, time_stride=stride)
        assert net.stem(x).shape[-1] == frames
        assert net(x).shape == (2, 12)


def test_an_input_of_another_height_is_refused_naming_the_setting():
    expected = r"built for 40 frequency rows \(model.n_mels\) and got inputs of 16"
    with pytest.raises(ValueError, match=expected):
        BCResNet(10, 1, 1)(torch.zeros(2, 1, 16, 16))


@pytest.mark.parametrize("time_stride", [1, 2])
def test_it_exports_to_onnx_with_torchs_probabilities(time_stride):
    net = BCResNet(12, 1, 2, time_stride=time_stride).eval()
    example = torch.randn(3, 1, 40, 51)
    runtime = checked_export(net, example)  # ExportMismatch beyond 1e-4
    with torch.no_grad():
        expected = torch.softmax(net(example), -1)
    got = runtime(example).softmax(-1)
    assert torch.allclose(got, expected, atol=1e-4)
