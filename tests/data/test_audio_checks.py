import numpy as np
import pytest
from omegaconf import OmegaConf

from mlcycle.data.audio_checks import check_audio
from mlcycle.data.audio_io import write_wav
from mlcycle.data.checks import Invalid
from mlcycle.modalities.audio.defects import AUDIO_DEFECTS, inject_audio_defect
from tests.conftest import DEFECT_REASONS, task_params

CHECKS = task_params().validate.audio
EXPECTED_REASON = DEFECT_REASONS
# What a built-in source's manifest row says it recorded.
BUILT_IN_ROW = {"expected_sample_rate": 16000.0, "expected_channels": 1.0}


def good_wav(path, seconds=1.0, sr=16000):
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(0)
    write_wav(
        path,
        (0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32),
        sr,
    )
    return path


def test_good_file_passes_with_its_facts(tmp_path):
    facts = check_audio(good_wav(tmp_path / "a.wav"), CHECKS)
    assert facts.sample_rate == 16000 and facts.channels == 1
    assert facts.duration_s == 1.0 and -20 < facts.rms_dbfs < -5


@pytest.mark.parametrize("kind", AUDIO_DEFECTS)
def test_rejects_each_injected_defect_with_its_reason(tmp_path, kind):
    path = good_wav(tmp_path / "a.wav")
    inject_audio_defect(path, kind, np.random.default_rng(0))
    with pytest.raises(Invalid) as err:
        check_audio(path, CHECKS, BUILT_IN_ROW)
    assert err.value.reason == EXPECTED_REASON[kind]


def test_rejects_missing_file(tmp_path):
    with pytest.raises(Invalid, match="not found") as err:
        check_audio(tmp_path / "gone.wav", CHECKS)
    assert err.value.reason == "missing"


def test_rejects_a_text_file_as_undecodable(tmp_path):
    path = tmp_path / "notes.flac"
    path.write_text("not audio at all")
    with pytest.raises(Invalid) as err:
        check_audio(path, CHECKS)
    assert err.value.reason == "undecodable"


def test_rejects_too_short_recording(tmp_path):
    with pytest.raises(Invalid, match="duration 0.100 s") as err:
        check_audio(good_wav(tmp_path / "a.wav", seconds=0.1), CHECKS)
    assert err.value.reason == "duration"


def test_a_short_word_is_kept(tmp_path):
    assert check_audio(good_wav(tmp_path / "a.wav", seconds=0.46), CHECKS).duration_s == 0.46


def test_own_audio_of_any_rate_and_channels_passes_by_default(tmp_path):
    path = tmp_path / "a.wav"
    write_wav(path, np.full((2, 8000), 0.1, dtype=np.float32), 8000)
    facts = check_audio(path, CHECKS, {"source": "folder"})
    assert (facts.sample_rate, facts.channels) == (8000, 2)


def test_a_configured_rate_holds_every_file(tmp_path):
    path = tmp_path / "a.wav"
    write_wav(path, np.full(8000, 0.1, dtype=np.float32), 8000)
    strict = OmegaConf.merge(CHECKS, {"sample_rate": 16000})
    with pytest.raises(Invalid, match="8000 Hz, expected 16000 Hz") as err:
        check_audio(path, strict)
    assert err.value.reason == "sample_rate"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_rejected_as_such(tmp_path, bad):
    x = np.full(16000, 0.1, dtype=np.float32)
    x[123] = bad
    path = tmp_path / "a.wav"
    write_wav(path, x, 16000, subtype="FLOAT")
    with pytest.raises(Invalid, match="1 samples are NaN or infinite") as err:
        check_audio(path, CHECKS)
    assert err.value.reason == "non_finite"


def test_image_file_in_an_audio_task_is_rejected_as_wrong_modality(tmp_path):
    from PIL import Image

    path = tmp_path / "photo.png"
    Image.new("L", (16, 16)).save(path)
    with pytest.raises(Invalid, match="image file") as err:
        check_audio(path, CHECKS)
    assert err.value.reason == "wrong_modality"
