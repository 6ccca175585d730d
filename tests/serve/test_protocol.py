"""The Open Inference Protocol (v2) over HTTP, spoken by tritonclient (Triton's own HTTP
client, from PyPI): health, metadata, JSON and binary tensors, stable and canary by
version, rows as columns, and the protocol's errors."""

from __future__ import annotations

import io
import json
import struct
import time

import httpx
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from mlcycle.models.package import load_package
from tests.serve.conftest import serving, split_files
from tests.serve.test_rows import rows_of

th = pytest.importorskip("tritonclient.http", reason="tritonclient[http] (the dev extra)")
from tritonclient.utils import InferenceServerException  # noqa: E402


def client_of(server) -> th.InferenceServerClient:
    return th.InferenceServerClient(server.url.removeprefix("http://"), network_timeout=60)


def files_tensor(blobs: list[bytes], binary: bool = True) -> th.InferInput:
    tensor = th.InferInput("input", [len(blobs)], "BYTES")
    tensor.set_data_from_numpy(np.array(blobs, dtype=object), binary_data=binary)
    return tensor


def status_of(call) -> tuple[int, str]:
    with pytest.raises(InferenceServerException) as refused:
        call()
    return int(refused.value.status()), refused.value.message()


def test_tritonclient_gets_the_packages_own_answers_and_the_protocols_errors(learnt):
    folder = learnt("keywords")
    package = load_package(folder / "models/package")
    paths = split_files(folder, "test", 6)
    blobs = [p.read_bytes() for p in paths]
    expected = package.predict_proba(blobs).numpy()
    with serving(folder, token=None) as server:
        client = client_of(server)
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("keywords")
        assert client.is_model_ready("keywords", package.version)
        assert not client.is_model_ready("nope")
        assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
        meta = client.get_model_metadata("keywords")
        assert meta["versions"] == [package.version]
        assert meta["inputs"] == [{"name": "input", "datatype": "BYTES", "shape": [-1]}]
        assert [o["name"] for o in meta["outputs"]] == ["label", "confidence", "probabilities"]
        assert meta["outputs"][2]["shape"] == [-1, len(package.labels)]

        # the binary extension, both ways (tritonclient's default)
        answer = client.infer("keywords", [files_tensor(blobs)])
        assert answer.get_response()["model_version"] == package.version
        assert np.allclose(answer.as_numpy("probabilities"), expected, atol=1e-4)
        labels = [package.labels[i] for i in expected.argmax(1)]
        assert [x.decode() for x in answer.as_numpy("label")] == labels
        assert np.allclose(answer.as_numpy("confidence"), expected.max(1), atol=1e-4)
        # JSON outputs, addressed by version, only what was asked for
        asked = [th.InferRequestedOutput("label", binary_data=False)]
        plain = client.infer("keywords", [files_tensor(blobs)], package.version, outputs=asked)
        tensors = plain.get_response()["outputs"]
        assert [t["name"] for t in tensors] == ["label"] and tensors[0]["data"] == labels
        # decoded samples (FP32, at the package's rate), in JSON and in binary
        samples, rate = sf.read(io.BytesIO(blobs[0]), dtype="float32")
        assert rate == package.featurizer.cfg.sample_rate
        for binary in (True, False):
            tensor = th.InferInput("samples", [1, len(samples)], "FP32")
            tensor.set_data_from_numpy(samples[None], binary_data=binary)
            got = client.infer("keywords", [tensor]).as_numpy("probabilities")[0]
            assert np.allclose(got, expected[0], atol=1e-4)

        # errors: the protocol's {"error"} with /v1's status for the same problem
        status, message = status_of(lambda: client.infer("nope", [files_tensor(blobs[:1])]))
        assert status == 404 and "serves 'keywords'" in message
        status, message = status_of(
            lambda: client.infer("keywords", [files_tensor(blobs[:1])], model_version="v9")
        )
        assert status == 404 and "no version 'v9'" in message
        status, message = status_of(lambda: client.infer("keywords", [files_tensor([b"junk"])]))
        assert status == 422 and message.startswith("undecodable")
        silent = th.InferInput("samples", [1, 16000], "FP32")
        silent.set_data_from_numpy(np.full((1, 16000), np.nan, np.float32))
        status, message = status_of(lambda: client.infer("keywords", [silent]))
        assert status == 422 and "NaN" in message
        status, message = status_of(
            lambda: client.get_model_metadata("keywords", model_version="v9")
        )
        assert status == 404

        # hostile requests, answered at once: a shape of 10^12 elements in a tiny body, a
        # BYTES element longer than its data, a JSON body that is not a request
        url = f"{server.url}/v2/models/keywords/infer"
        head = {"inputs": [{"name": "input", "datatype": "BYTES", "shape": [10**12], "data": []}]}
        lying = json.dumps(
            {
                "inputs": [
                    {
                        "name": "input",
                        "datatype": "BYTES",
                        "shape": [1],
                        "parameters": {"binary_data_size": 8},
                    }
                ]
            }
        ).encode()
        cases = [
            (json.dumps(head).encode(), {}, "shape"),
            (
                lying + struct.pack("<I", 10**6) + b"abcd",
                {"Inference-Header-Content-Length": str(len(lying))},
                "runs past",
            ),
            (b"[1, 2]", {}, "JSON object"),
            (b"{not json", {}, "not JSON"),
        ]
        for body, headers, words in cases:
            start = time.perf_counter()
            r = httpx.post(url, content=body, headers=headers, timeout=30)
            assert r.status_code == 400 and words in r.json()["error"], r.text
            assert time.perf_counter() - start < 5
        metrics = httpx.get(f"{server.url}/metrics").text
    # every input is one answer, counted as /v1's are (6 + 6 + 2 of them here)
    line = f'mlcycle_requests_total{{code="200",model_version="{package.version}",route="stable"}}'
    assert f"{line} 14.0" in metrics


@pytest.mark.slow  # servers, a rollout (and dvc + gto): a minute or more
def test_stable_and_canary_are_addressable_by_version(digits_dir, digits_packages):
    """Images as PNG bytes and as UINT8 pixels; a version names the model that answers,
    and a failure of the named canary is the client's 500 (no fallback to stable), while
    an unaddressed request that the canary fails is answered by stable."""
    stable = load_package(digits_packages["stable"])
    with serving(digits_dir, "serve.canary.steps=[100]") as server:
        client = client_of(server)
        image = np.array(Image.open(io.BytesIO(make_png())))
        pixels = th.InferInput("pixels", [1, *image.shape], "UINT8")
        pixels.set_data_from_numpy(image[None])
        as_png = client.infer("digits", [files_tensor([make_png()])]).as_numpy("probabilities")
        as_pixels = client.infer("digits", [pixels]).as_numpy("probabilities")
        assert np.allclose(as_png, as_pixels, atol=1e-5)
        assert np.allclose(as_png[0], stable.predict_proba([make_png()])[0].numpy(), atol=1e-4)

        good = load_package(digits_packages["good"])
        r = server.admin("/admin/canary", {"package": str(digits_packages["good"])})
        assert r.status_code == 200, r.text
        assert sorted(client.get_model_metadata("digits")["versions"]) == sorted(
            [stable.version, good.version]
        )
        for version, route in ((stable.version, "stable"), (good.version, "canary")):
            answer = client.infer("digits", [files_tensor([make_png()])], version).get_response()
            assert answer["model_version"] == version
            assert answer["parameters"]["routes"] == [route]
        assert server.admin("/admin/canary/rollback").status_code == 200

        nan = load_package(digits_packages["nan"])
        r = server.admin("/admin/canary", {"package": str(digits_packages["nan"]), "force": True})
        assert r.status_code == 200, r.text
        status, message = status_of(
            lambda: client.infer("digits", [files_tensor([make_png()])], nan.version)
        )
        assert status == 500 and "model_failed" in message
        # at weight 100 every unaddressed request goes to the canary, and stable answers it
        answer = client.infer("digits", [files_tensor([make_png()])]).get_response()
        assert answer["model_version"] == stable.version
        assert answer["parameters"]["routes"] == ["stable"]


def make_png() -> bytes:
    """A digit-sized image (8x8 grey), as the digits package takes it."""
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_table_rows_come_as_one_tensor_per_field(learnt):
    fraud = learnt("transactions")
    package = load_package(fraud / "models/package", runtime="torch")
    rows = rows_of(fraud, 20)
    kinds = {c["name"]: "FP64" for c in package.featurizer.cfg.numeric}
    kinds.update({c["name"]: "BYTES" for c in package.featurizer.cfg.categorical})
    # a tensor of strings has no null: a missing category is sent as "" (an unseen one)
    sent = [
        {k: ("" if v is None and kinds[k] == "BYTES" else v) for k, v in row.items()}
        for row in rows
    ]
    expected = package.predict_proba(sent)[:, 1].numpy()
    with serving(fraud, token=None) as server:
        client = client_of(server)
        meta = client.get_model_metadata("transactions")
        assert {t["name"]: t["datatype"] for t in meta["inputs"]} == kinds
        assert {"score", "alert"} <= {o["name"] for o in meta["outputs"]}
        tensors = []
        for name, kind in kinds.items():
            values = [row[name] for row in sent]
            if kind == "BYTES":
                array = np.array([v.encode() for v in values], dtype=object)
            else:  # a missing number is NaN in a tensor
                array = np.array([np.nan if v is None else v for v in values], np.float64)
            tensor = th.InferInput(name, [len(rows)], kind)
            tensor.set_data_from_numpy(array)
            tensors.append(tensor)
        answer = client.infer("transactions", tensors)
        assert np.allclose(answer.as_numpy("score"), expected, atol=1e-5)
        threshold = package.decision["threshold"]
        assert list(answer.as_numpy("alert")) == list(expected >= threshold)
        # a required field left out is the row's 422, as in a JSON row
        required = next(c["name"] for c in package.featurizer.cfg.numeric if not c["nullable"])
        fewer = [t for t in tensors if t.name() != required]
        status, message = status_of(lambda: client.infer("transactions", fewer))
        assert status == 422 and "row 0" in message and required in message
