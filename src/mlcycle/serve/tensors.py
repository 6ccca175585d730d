"""The Open Inference Protocol's tensors (v2, as KServe, Triton and MLServer speak it):
JSON requests and answers, and Triton's binary tensor data extension.

A request is JSON, `{"id", "parameters", "inputs": [{name, datatype, shape, data}],
"outputs": [{name, parameters: {binary_data}}]}`. With the binary extension (what
tritonclient sends by default) the body is that JSON followed by the tensors' raw bytes:
the header `Inference-Header-Content-Length` gives the JSON's length, and an input with
`parameters.binary_data_size` takes that many bytes, in order; BYTES elements are each a
4-byte little-endian length and the bytes. Every size is checked against what the body
holds before anything is allocated, so a shape of 10^12 elements in a 100-byte body is a
400, not a stalled server.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from mlcycle.serve.inputs import BadInput

# The protocol's datatypes this server reads and writes (BF16 and FP16 have no JSON form).
DTYPES = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
MAX_ELEMENTS = 50_000_000  # a shape larger than this is refused whatever the body holds
HEADER = "inference-header-content-length"


def bad(detail: str) -> BadInput:
    return BadInput(400, "bad_tensor", detail)


@dataclass
class Tensor:
    """One input tensor: `data` a flat numpy array, or a list of bytes for BYTES."""

    name: str
    datatype: str
    shape: list[int]
    data: Any
    parameters: dict[str, Any] = field(default_factory=dict)

    def array(self) -> np.ndarray:
        """The data in its shape (not for BYTES)."""
        return np.asarray(self.data).reshape(self.shape)


@dataclass
class InferRequest:
    id: str | None
    inputs: list[Tensor]
    parameters: dict[str, Any]
    outputs: list[dict[str, Any]] | None  # None: every output


def parse_request(body: bytes, header_length: str | None) -> InferRequest:
    """The request in `body`; BadInput (400 bad_tensor) names what does not fit."""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise bad(f"{HEADER}: {header_length!r} is not a length within the body")
        head, binary = body[: int(header_length)], memoryview(body)[int(header_length) :]
    else:
        head, binary = body, memoryview(b"")
    try:
        request = orjson.loads(head)
    except orjson.JSONDecodeError as e:
        raise BadInput(400, "bad_json", f"the inference request is not JSON: {e}") from None
    if not isinstance(request, dict):
        raise bad("an inference request is a JSON object with 'inputs'")
    raw_inputs = request.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise bad("the request has no 'inputs': a non-empty list of tensors")
    parameters = request.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise bad("'parameters' must be an object")
    offset, tensors = 0, []
    for i, raw in enumerate(raw_inputs):
        tensor, offset = parse_tensor(raw, i, binary, offset)
        tensors.append(tensor)
    if offset != len(binary):
        raise bad(f"{len(binary) - offset} bytes of binary data follow the tensors unread")
    outputs = request.get("outputs")
    if outputs is not None and not (
        isinstance(outputs, list) and all(isinstance(o, dict) and "name" in o for o in outputs)
    ):
        raise bad("'outputs' must be a list of objects with a 'name'")
    rid = request.get("id")
    return InferRequest(None if rid is None else str(rid)[:128], tensors, parameters, outputs)


def parse_tensor(raw: Any, i: int, binary: memoryview, offset: int) -> tuple[Tensor, int]:
    if not isinstance(raw, dict):
        raise bad(f"input {i} is not an object")
    name, datatype, shape = raw.get("name"), raw.get("datatype"), raw.get("shape")
    where = f"input {name!r}" if isinstance(name, str) else f"input {i}"
    if not isinstance(name, str) or not name:
        raise bad(f"{where} has no 'name'")
    if datatype != "BYTES" and datatype not in DTYPES:
        raise bad(f"{where}: datatype {datatype!r} is not one of BYTES, {', '.join(DTYPES)}")
    if (
        not isinstance(shape, list)
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        or math.prod(shape) > MAX_ELEMENTS
    ):
        raise bad(f"{where}: shape {shape!r} is not a list of sizes (at most {MAX_ELEMENTS:,})")
    count = math.prod(shape)
    parameters = raw.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise bad(f"{where}: 'parameters' must be an object")
    size = parameters.get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise bad(f"{where}: binary_data_size {size!r} is more than the body holds")
        chunk = binary[offset : offset + size]
        offset += size
        data = bytes_elements(chunk, count, where) if datatype == "BYTES" else None
        if data is None:
            dtype = DTYPES[datatype]
            if size != count * dtype.itemsize:
                raise bad(
                    f"{where}: {size} bytes for {count} {datatype} elements "
                    f"({count * dtype.itemsize} expected)"
                )
            data = np.frombuffer(chunk, dtype=dtype)
    else:
        data = json_elements(raw.get("data"), datatype, count, where)
    return Tensor(name, datatype, shape, data, parameters), offset


def bytes_elements(chunk: memoryview, count: int, where: str) -> list[bytes]:
    """BYTES in the binary extension: each a uint32 (little-endian) length, then the bytes."""
    out, at = [], 0
    while at < len(chunk):
        if at + 4 > len(chunk):
            raise bad(f"{where}: a BYTES element's length is cut off")
        (n,) = struct.unpack_from("<I", chunk, at)
        if at + 4 + n > len(chunk):
            raise bad(f"{where}: a BYTES element of {n} bytes runs past its binary data")
        out.append(bytes(chunk[at + 4 : at + 4 + n]))
        at += 4 + n
    if len(out) != count:
        raise bad(f"{where}: {len(out)} BYTES elements for a shape of {count}")
    return out


def json_elements(data: Any, datatype: str, count: int, where: str) -> Any:
    """The JSON `data` of a tensor, flat (the protocol allows nested lists in row-major
    order): a list of bytes for BYTES (strings, UTF-8), else a numpy array."""
    if data is None:
        raise bad(f"{where} has neither 'data' nor parameters.binary_data_size")
    flat = data if isinstance(data, list) else [data]
    if any(isinstance(x, list) for x in flat):
        flat = list(flatten(flat))
    if len(flat) != count:
        raise bad(f"{where}: {len(flat)} elements for a shape of {count}")
    if datatype == "BYTES":
        if not all(isinstance(x, str) for x in flat):
            raise bad(f"{where}: BYTES elements in JSON are strings")
        return [x.encode() for x in flat]
    if datatype == "BOOL":
        if not all(isinstance(x, bool) for x in flat):
            raise bad(f"{where}: BOOL elements are true or false")
    elif not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in flat):
        raise bad(f"{where}: {datatype} elements are numbers")
    try:
        return np.asarray(flat, dtype=DTYPES[datatype])
    except (OverflowError, ValueError) as e:
        raise bad(f"{where}: {e}") from None


def flatten(items: list) -> Any:
    for x in items:
        if isinstance(x, list):
            yield from flatten(x)
        else:
            yield x


@dataclass
class Output:
    name: str
    datatype: str
    shape: list[int]
    data: list[Any]  # flat, row-major; bytes/str for BYTES


def encode_response(
    answer: dict[str, Any], outputs: list[Output], request: InferRequest
) -> tuple[bytes, dict[str, str]]:
    """The response body and its extra headers: plain JSON, or JSON then binary data for
    the outputs asked for in binary (`outputs[].parameters.binary_data`, or every output
    where the request's parameters say `binary_data_output`)."""
    wanted = {o["name"]: o for o in request.outputs} if request.outputs is not None else None
    every_binary = bool(request.parameters.get("binary_data_output"))
    tensors, blobs = [], []
    for out in outputs:
        if wanted is not None and out.name not in wanted:
            continue
        asked = (wanted or {}).get(out.name, {}).get("parameters") or {}
        binary = asked.get("binary_data", every_binary)
        tensor: dict[str, Any] = {"name": out.name, "datatype": out.datatype, "shape": out.shape}
        if binary:
            blob = to_binary(out)
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = [
                x.decode() if isinstance(x, bytes) else x for x in out.data
            ]  # BYTES as strings in JSON
        tensors.append(tensor)
    if wanted is not None:
        unknown = sorted(set(wanted) - {o.name for o in outputs})
        if unknown:
            names = [o.name for o in outputs]
            raise bad(f"unknown output(s) {unknown}; the model gives {names}")
    head = orjson.dumps({**answer, "outputs": tensors})
    if not blobs:
        return head, {}
    return head + b"".join(blobs), {"Inference-Header-Content-Length": str(len(head))}


def to_binary(out: Output) -> bytes:
    if out.datatype == "BYTES":
        parts = []
        for x in out.data:
            b = x if isinstance(x, bytes) else str(x).encode()
            parts.append(struct.pack("<I", len(b)) + b)
        return b"".join(parts)
    return np.asarray(out.data, dtype=DTYPES[out.datatype]).tobytes()
