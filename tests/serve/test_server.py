"""The real server on loopback: predictions, health, metrics, bad requests, the admin API."""

import io
import json
import re
import subprocess
import time

import numpy as np
import pytest
import soundfile as sf

from mlcycle.models.package import load_package
from tests.serve.conftest import MLCYCLE, TOKEN, serving, split_files

REQUIRED = {"label", "confidence", "probabilities", "model_version", "route", "request_id"}


@pytest.mark.parametrize("task", ["keywords", "digits"])
def test_predictions_are_the_packages_own(task, learnt):
    folder = learnt(task)
    package = load_package(folder / "models/package")
    files = split_files(folder, "test", 12)
    mime = "audio/wav" if task == "keywords" else "image/png"
    with serving(folder, token=None) as server, server.client() as client:
        for i, path in enumerate(files):
            data = path.read_bytes()
            if i % 2:  # raw body with its Content-Type, or multipart field `file`
                r = client.post("/v1/predict", content=data, headers={"Content-Type": mime})
            else:
                r = client.post("/v1/predict", files={"file": (path.name, data, mime)})
            assert r.status_code == 200, r.text
            answer = r.json()
            assert REQUIRED <= set(answer) and answer["route"] == "stable"
            expected = package.predict_proba([data])[0].tolist()
            got = [answer["probabilities"][label] for label in package.labels]
            assert np.allclose(got, expected, atol=1e-4)
            assert answer["label"] == package.labels[int(np.argmax(expected))]
            assert answer["model_version"] == package.version


def test_health_models_and_metrics(learnt):
    folder = learnt("digits")
    with serving(folder, token=None) as server, server.client() as client:
        assert client.get("/healthz").json() == {"status": "alive"}
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready"
        png = split_files(folder, "test", 1)[0].read_bytes()
        client.post("/v1/predict", content=png, headers={"Content-Type": "image/png"})
        client.post("/v1/predict", content=b"", headers={"Content-Type": "image/png"})
        models = client.get("/v1/models").json()
        assert models["stable"]["version"] == ready["model_version"]
        assert models["stable"]["gate_passed"] is True and models["canary"] is None
        assert models["rollout"]["status"] == "idle"
        text = client.get("/metrics").text
    version = ready["model_version"]
    for line in (
        f'mlcycle_requests_total{{code="200",model_version="{version}",route="stable"}} 1.0',
        'mlcycle_rejected_inputs_total{reason="empty"} 1.0',
        'mlcycle_request_duration_seconds_count{route="stable"} 1.0',
        f'mlcycle_batch_size_count{{model_version="{version}"}} 1.0',
        "mlcycle_canary_weight_ratio 0.0",
    ):
        assert line in text, line
    assert "mlcycle_predictions_total{" in text


def wav_bytes(samples, rate=16000, subtype="PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, subtype=subtype, format="WAV")
    return buffer.getvalue()


def test_bad_requests_get_a_4xx_naming_the_problem(learnt):
    folder = learnt("keywords")
    clip = split_files(folder, "test", 1)[0].read_bytes()
    nan = np.zeros(1600, np.float32)
    nan[5] = np.nan
    cases = [
        (b"", "audio/wav", 400, "empty"),
        (clip, "text/plain", 415, "content_type"),
        (b"\x89PNG\r\n\x1a\n" + b"0" * 100, "application/octet-stream", 415, "wrong_modality"),
        (b"not audio at all", "audio/wav", 422, "undecodable"),
        (wav_bytes(nan, subtype="FLOAT"), "audio/wav", 422, "non_finite"),
        (wav_bytes(np.zeros(1000 * 40, np.float32), 1000), "audio/wav", 422, "too_long"),
        (b"0" * 300_000, "audio/wav", 413, "too_large"),
    ]
    with serving(folder, "serve.max_body_bytes=200000", token=None) as server:
        with server.client() as client:
            for body, ctype, status, reason in cases:
                r = client.post("/v1/predict", content=body, headers={"Content-Type": ctype})
                assert r.status_code == status, (reason, r.text)
                assert r.json()["error"] == reason and r.json()["detail"]
            r = client.post("/v1/predict", files={"other": ("a.wav", b"x", "audio/wav")})
            assert r.status_code == 400 and r.json()["error"] == "no_file"
            assert client.get("/readyz").status_code == 200  # still serving


def test_admin_api_is_off_without_a_token_and_guarded_with_one(digits_dir, digits_packages):
    body = {"package": str(digits_packages["good"])}
    with serving(digits_dir, token=None) as server:
        assert server.admin("/admin/canary", body).status_code == 404
    with serving(digits_dir) as server, server.client() as client:
        assert client.post("/admin/canary", json=body).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert client.post("/admin/canary", json=body, headers=wrong).status_code == 401
        assert server.admin("/admin/canary/promote").status_code == 409  # nothing to promote


@pytest.mark.parametrize(
    "candidate,reason",
    [
        ("failed_gate", "gate failed"),
        ("keywords", "'keywords' model"),
        ("stable", "the stable model itself"),
    ],
)
def test_a_canary_that_may_not_ship_is_refused_unless_forced(
    digits_dir, digits_packages, candidate, reason
):
    body = {"package": str(digits_packages[candidate])}
    with serving(digits_dir) as server:
        refused = server.admin("/admin/canary", body)
        assert refused.status_code == 409 and reason in refused.json()["detail"]
        assert server.models()["canary"] is None
        if candidate == "failed_gate":
            forced = server.admin("/admin/canary", {**body, "force": True})
            assert forced.status_code == 200
            assert forced.json()["rollout"]["history"][-1]["forced"] is True


def test_missing_package_for_a_canary_is_a_clear_error(digits_dir, tmp_path):
    with serving(digits_dir) as server:
        r = server.admin("/admin/canary", {"package": str(tmp_path / "nowhere")})
        assert r.status_code == 422 and "missing" in r.json()["detail"]


def test_canary_cli_talks_to_the_server(digits_dir, digits_packages, monkeypatch):
    with serving(digits_dir) as server:
        env = {"MLCYCLE_ADMIN_TOKEN": TOKEN, "PATH": str(MLCYCLE.parent)}
        run = [MLCYCLE, "canary", "--url", server.url]
        done = subprocess.run(
            [*run, "start", str(digits_packages["good"])], env=env, capture_output=True
        )
        assert done.returncode == 0, done.stderr
        status = subprocess.run([*run, "status"], env=env, capture_output=True, text=True)
        assert json.loads(status.stdout)["status"] == "progressing"
        done = subprocess.run([*run, "weight", "30"], env=env, capture_output=True, text=True)
        assert done.returncode == 0 and server.models()["rollout"]["weight"] == 30
        done = subprocess.run([*run, "rollback"], env=env, capture_output=True, text=True)
        assert done.returncode == 0 and server.models()["rollout"]["status"] == "rolled_back"
        again = subprocess.run([*run, "promote"], env=env, capture_output=True, text=True)
        assert again.returncode == 1 and "no canary" in again.stderr


def encoded(samples, rate, fmt, subtype=None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def test_odd_rates_compressed_bombs_and_huge_bodies_are_answered_at_once(learnt):
    """Every input's cost is bounded before it is decoded: a 10-sample clip at a rate with
    no cheap ratio to 16 kHz is answered (it once took 9.6 s and 4.7 GB), a FLAC that
    would decode to 100 MB is refused from its header, and a body over the limit gets a
    413 the client can read (not a connection reset)."""
    folder = learnt("keywords")
    package = load_package(folder / "models/package")
    clip, rate = sf.read(split_files(folder, "test", 1)[0], dtype="float32")
    bomb = encoded(np.zeros((192_000 * 16, 8), np.int16), 192_000, "FLAC")  # 16 s, 8 ch
    assert len(bomb) < 1_000_000  # a small body
    with serving(folder, token=None) as server, server.client(timeout=20) as client:
        for odd in (15_999, 44_101):
            tiny = encoded(np.full(10, 0.1, np.float32), odd, "WAV", "FLOAT")
            r = client.post("/v1/predict", content=tiny, headers={"Content-Type": "audio/wav"})
            assert r.status_code == 200, r.text
        for fmt, mime in (("FLAC", "audio/flac"), ("OGG", "audio/ogg")):
            body = encoded(clip, rate, fmt)
            r = client.post("/v1/predict", content=body, headers={"Content-Type": mime})
            assert r.status_code == 200, r.text
            expected = package.predict_proba([body])[0].tolist()
            got = [r.json()["probabilities"][label] for label in package.labels]
            assert np.allclose(got, expected, atol=1e-4)
        r = client.post("/v1/predict", content=bomb, headers={"Content-Type": "audio/flac"})
        assert r.status_code == 413 and r.json()["error"] == "too_large", r.text
        assert "serve.max_decoded_mb" in r.json()["detail"]
        rates = encoded(np.zeros(100, np.int16), 500, "WAV")
        r = client.post("/v1/predict", content=rates, headers={"Content-Type": "audio/wav"})
        assert r.status_code == 422 and r.json()["error"] == "sample_rate", r.text
        for huge in (encoded(np.zeros(19_000_000 // 2, np.int16), 16000, "WAV"), bytes(64 << 20)):
            r = client.post("/v1/predict", content=huge, headers={"Content-Type": "audio/wav"})
            assert r.status_code == 413 and r.json()["error"] == "too_large", r.text
        r = client.post(
            "/v1/predict",
            content=b"--x\r\nnot a part",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
        assert r.status_code == 400 and r.json()["error"] in ("bad_multipart", "no_file")
        assert client.get("/readyz").status_code == 200


def test_the_admin_api_loads_packages_only_from_the_package_roots(digits_dir, digits_packages):
    outside = str(digits_packages["good"])  # a readable package, not under the roots
    with serving(digits_dir, "serve.package_roots=[models]") as server:
        r = server.admin("/admin/canary", {"package": outside})
        assert r.status_code == 403 and "serve.package_roots" in r.json()["detail"]
        assert server.models()["canary"] is None


def test_an_unreachable_log_database_at_start_serves_without_a_log(learnt, tmp_path):
    folder = learnt("digits")
    png = split_files(folder, "test", 1)[0].read_bytes()
    gone = "monitor.store=postgresql://nobody@127.0.0.1:1/none"  # nothing listens on port 1
    outages = f"paths.log_outages={tmp_path}/outages.json"
    with serving(folder, gone, outages, token=None) as server, server.client() as client:
        r = client.post("/v1/predict", content=png, headers={"Content-Type": "image/png"})
        assert r.status_code == 200, r.text
        assert "mlcycle_prediction_log_up 0.0" in client.get("/metrics").text
    assert "serving WITHOUT a prediction log" in server.log.read_text()
    # `mlcycle monitor` over that hour says the log misses what the server answered
    report = subprocess.run(
        [MLCYCLE, "monitor", gone, outages], cwd=folder, capture_output=True, text=True
    )
    assert "served WITHOUT a prediction log from" in report.stdout, report.stdout
    assert "port 1" in report.stdout or "127.0.0.1" in report.stdout
    assert "until now" not in report.stdout  # the server stopped: the outage ended
    with pytest.raises(AssertionError, match="server exited"):  # configured to refuse
        with serving(folder, gone, "monitor.require_store=true", token=None):
            pass


def test_batches_form_over_http_and_answers_stay_each_requests_own(learnt):
    """Requests that arrive together share a batch (serve.batch_wait_ms), never more than
    serve.max_batch_size, and each client still gets its own input's probabilities."""
    import concurrent.futures

    folder = learnt("digits")
    package = load_package(folder / "models/package")
    files = split_files(folder, "test", 24)
    settings = ("serve.batch_wait_ms=50", "serve.max_batch_size=4")
    with serving(folder, *settings, token=None) as server, server.client() as client:

        def ask(path):
            r = client.post(
                "/v1/predict", content=path.read_bytes(), headers={"Content-Type": "image/png"}
            )
            return path, r

        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(ask, files))
        text = client.get("/metrics").text
    for path, r in answers:
        assert r.status_code == 200, r.text
        expected = package.predict_proba([path.read_bytes()])[0].tolist()
        got = [r.json()["probabilities"][label] for label in package.labels]
        assert np.allclose(got, expected, atol=1e-4)
    version = package.version
    count = float(
        re.search(rf'mlcycle_batch_size_count{{model_version="{version}"}} (\S+)', text)[1]
    )
    total = float(re.search(rf'mlcycle_batch_size_sum{{model_version="{version}"}} (\S+)', text)[1])
    assert total == len(files) and count < len(files)  # some inputs shared a batch
    at_most_4 = float(
        re.search(rf'mlcycle_batch_size_bucket{{le="4.0",model_version="{version}"}} (\S+)', text)[
            1
        ]
    )
    assert at_most_4 == count  # none larger than serve.max_batch_size


def test_connections_beyond_max_connections_get_a_503(learnt):
    """uvicorn counts the connection asking too: with serve.max_connections=2, a client
    that holds a connection with a body it never finishes leaves none for the next one,
    which is refused at once (503), not queued."""
    import socket

    folder = learnt("digits")
    with serving(folder, "serve.max_connections=2", token=None) as server:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as held:
            held.sendall(
                b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                b"Content-Length: 1000\r\n\r\n0123"
            )
            time.sleep(0.5)
            with server.client() as client:
                assert client.get("/healthz").status_code == 503
        deadline = time.time() + 10  # the slow client is gone: served again
        while time.time() < deadline:
            with server.client() as client:
                if client.get("/healthz").status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError("still refused after the held connection closed")


def test_the_network_runs_under_onnx_runtime_unless_serve_runtime_is_torch(learnt):
    folder = learnt("digits")
    files = split_files(folder, "test", 6)
    answers = {}
    for runtime in ("onnx", "torch"):
        with serving(folder, f"serve.runtime={runtime}", token=None) as server:
            assert server.models()["stable"]["runtime"] == runtime
            with server.client() as client:
                answers[runtime] = [
                    client.post(
                        "/v1/predict", content=f.read_bytes(), headers={"Content-Type": "image/png"}
                    ).json()["probabilities"]
                    for f in files
                ]
    for onnx, torch in zip(answers["onnx"], answers["torch"]):
        assert np.allclose(list(onnx.values()), list(torch.values()), atol=1e-4)
