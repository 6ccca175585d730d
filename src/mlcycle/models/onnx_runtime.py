"""The package's network under ONNX Runtime: what serving runs by default.

The package stage exports the trained network to ONNX (`network.onnx` in the package,
covered by the card's hashes) and evaluate measures the same runtime, so the latency the
gate checks is the one served. On the default keywords DS-CNN, one input on one thread
runs in 0.22 ms under ONNX Runtime against 0.98 ms in eager torch, a batch of 16 in
0.23 against 0.53 ms per input (benchmarks/serve_load.py shows what it does to serving).
Only the network runs here; the featurizer stays torch (0.15-0.3 ms per input).

An export is checked before it is used: its probabilities must equal torch's within
`TOLERANCE` on a real input, or it is refused (ExportMismatch) and torch serves.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch

TOLERANCE = 1e-4  # largest difference in any class probability, ONNX Runtime vs torch
OPSET = 17


class ExportMismatch(ValueError):
    """The exported network does not give torch's probabilities."""


def export(net: torch.nn.Module, example: torch.Tensor) -> bytes:
    """The ONNX model of `net` (in eval mode) for inputs shaped like `example`, any batch
    size. TorchScript-based exporter: it takes ~1 s where torch.export's takes ~8 s, and it
    is what torch 2.x still ships (the package stage runs it once per model)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notices
        torch.onnx.export(
            net.eval(),
            (example,),
            buffer,
            input_names=["x"],
            output_names=["logits"],
            dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    return buffer.getvalue()


class OnnxNetwork:
    """An ONNX model as a callable like the torch network: logits for a batch. It runs on
    as many intra-op threads as torch is set to at the call (torch.set_num_threads), one
    session per thread count, so the callers' thread policy holds for both runtimes."""

    def __init__(self, model: bytes) -> None:
        self.model = model
        self.sessions: dict[int, object] = {}

    def session(self, threads: int):
        if threads not in self.sessions:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3  # errors only
            self.sessions[threads] = ort.InferenceSession(
                self.model, options, providers=["CPUExecutionProvider"]
            )
        return self.sessions[threads]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        session = self.session(torch.get_num_threads())
        (logits,) = session.run(None, {"x": x.detach().cpu().numpy().astype(np.float32)})
        return torch.from_numpy(logits)


def checked_export(net: torch.nn.Module, example: torch.Tensor) -> OnnxNetwork:
    """The exported network, if its probabilities on `example` are torch's (ExportMismatch
    naming the difference otherwise)."""
    runtime = OnnxNetwork(export(net, example))
    verify(net, runtime, example)
    return runtime


def verify(net: torch.nn.Module, runtime: OnnxNetwork, example: torch.Tensor) -> None:
    with torch.no_grad():
        expected = net.eval()(example).softmax(-1)
    got = runtime(example).softmax(-1)
    worst = float((got - expected).abs().max())
    if not worst <= TOLERANCE:
        raise ExportMismatch(
            f"the ONNX export's probabilities differ from torch's by {worst:.2e} "
            f"(more than {TOLERANCE})"
        )
