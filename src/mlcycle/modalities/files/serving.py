"""Serving the modalities whose inputs are files: the body is the file's bytes (or a
multipart field 'file'), decoded with the limits of mlcycle.serve.inputs by the modality's
own decoder; the log records the input's statistics (the modality's InputStats), computed
by the log's thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlcycle.modalities.base import Serving
from mlcycle.monitor.stats import InputStats

# Bodies up to this size are decoded on the event loop (a 1 s WAV in ~0.1 ms: less than
# handing it to a thread costs); larger ones in a worker thread, not to stall the loop.
INLINE_DECODE_BYTES = 256_000


class FileServing(Serving):
    def __init__(
        self,
        name: str,
        content_types: tuple[str, ...],
        content_help: str,
        decode_file: Callable[[bytes, Any, int | None], Any],
        looks_like: Callable[[bytes], bool],
        stats: InputStats,
        decode_array: Callable[[Any, Any, Any], list[Any]] | None = None,
        array: dict[str, Any] | None = None,
    ) -> None:
        """`decode_file(data, limits, max_pixels)`: the featurizer's input, or BadInput;
        `looks_like(data)`: whether the leading bytes are certainly this modality's;
        `decode_array(tensor, package, serve)`: the inputs of a decoded tensor (the
        protocol's other input, described by `array`: {name, datatype, shape})."""
        self.name, self.content_types, self.content_help = name, content_types, content_help
        self.decode_file, self.looks_like, self.stats = decode_file, looks_like, stats
        self.decode_array, self.array = decode_array, array

    def decode(self, data: bytes, package: Any, serve: Any) -> Any:
        from mlcycle.serve.inputs import decode

        max_pixels = getattr(package.featurizer.cfg, "max_pixels", None)
        return decode(data, self.name, serve, max_pixels)

    def off_loop(self, data: bytes) -> bool:
        return len(data) > INLINE_DECODE_BYTES

    def from_tensors(
        self, tensors: list[Any], package: Any, serve: Any
    ) -> list[tuple[Any, bytes | None]]:
        """One tensor: BYTES, each element an encoded file (decoded with the limits of
        /v1/predict), or the decoded form `array` describes."""
        from mlcycle.serve.inputs import BadInput

        kinds = "BYTES (encoded files)" + (
            f" or {self.array['datatype']} {self.array['shape']}" if self.array else ""
        )
        if len(tensors) != 1:
            raise BadInput(400, "bad_tensor", f"send one input tensor: {kinds}")
        tensor = tensors[0]
        if tensor.datatype == "BYTES":
            return [(self.decode(data, package, serve), data) for data in tensor.data]
        if self.array is None or tensor.datatype != self.array["datatype"]:
            raise BadInput(
                400, "bad_tensor", f"input {tensor.name!r} is {tensor.datatype}: send {kinds}"
            )
        return [(x, None) for x in self.decode_array(tensor, package, serve)]

    def tensor_inputs(self, package: Any) -> list[dict[str, Any]]:
        return [{"name": "input", "datatype": "BYTES", "shape": [-1]}]

    def log_stats(self, decoded: Any) -> Any:
        from mlcycle.serve.recorder import LazyStats

        return LazyStats(decoded, self.stats)
