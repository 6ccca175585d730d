"""Every kind of bad body is refused with its own 4xx and reason, before any model work."""

import io

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from mlcycle.serve.inputs import BadInput, check_content_type, decode
from tests.conftest import task_params

LIMITS = task_params().serve


def wav(samples, rate=16000, subtype="PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, subtype=subtype, format="WAV")
    return buffer.getvalue()


def png(size=(16, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, 200).save(buffer, format="PNG")
    return buffer.getvalue()


def refused(data, modality="audio", max_pixels=None) -> BadInput:
    with pytest.raises(BadInput) as e:
        decode(data, modality, LIMITS, max_pixels)
    return e.value


def test_any_rate_and_channel_count_decodes():
    stereo = np.random.default_rng(0).uniform(-0.5, 0.5, (22050, 2)).astype(np.float32)
    samples, rate = decode(wav(stereo, 22050), "audio", LIMITS)
    assert samples.shape == (2, 22050) and rate == 22050


@pytest.mark.parametrize(
    "body,status,reason",
    [
        (b"", 400, "empty"),
        (b"definitely not audio", 422, "undecodable"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt garbage", 422, "undecodable"),
    ],
)
def test_bad_audio_bodies(body, status, reason):
    e = refused(body)
    assert (e.status, e.reason) == (status, reason)


def test_non_finite_samples_are_refused_as_such():
    for bad in (np.nan, np.inf, -np.inf):
        x = np.zeros(16000, np.float32)
        x[100] = bad
        e = refused(wav(x, subtype="FLOAT"))
        assert e.reason == "non_finite" and "1 samples" in e.detail


def test_absurd_length_is_refused_before_decoding():
    e = refused(wav(np.zeros(16000 * 31, np.float32)))
    assert (e.status, e.reason) == (422, "too_long") and "serve.max_audio_s" in e.detail


def test_an_image_sent_to_an_audio_model_is_named():
    e = refused(png())
    assert (e.status, e.reason) == (415, "wrong_modality") and "image" in e.detail


def test_audio_sent_to_an_image_model_is_named():
    e = refused(wav(np.zeros(1600, np.float32)), "image")
    assert e.reason == "wrong_modality"


def test_a_decompression_bomb_is_refused_before_decoding():
    e = refused(png((6000, 6000)), "image", max_pixels=25_000_000)
    assert (e.status, e.reason) == (413, "too_many_pixels")


@pytest.mark.parametrize("ctype", ["text/plain", "application/json", "image/png", None])
def test_content_types_other_than_audio_are_refused_for_audio(ctype):
    with pytest.raises(BadInput) as e:
        check_content_type(ctype, "audio")
    assert e.value.status == 415 and "multipart" in e.value.detail


def test_audio_image_and_octet_stream_types_pass():
    check_content_type("audio/wav", "audio")
    check_content_type("audio/x-flac; charset=binary", "audio")
    check_content_type("application/octet-stream", "image")
    check_content_type("image/webp", "image")
