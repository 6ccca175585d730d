import numpy as np
import pytest
from omegaconf import OmegaConf

from mlcycle.data.audio_checks import check_audio
from mlcycle.data.audio_io import write_wav
from mlcycle.data.checks import Invalid
from mlcycle.data.defects import AUDIO_DEFECTS, inject_audio_defect
from tests.conftest import DEFECT_REASONS, task_params

CHECKS = task_params().validate.audio
EXPECTED_REASON = DEFECT_REASONS


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
        check_audio(path, CHECKS)
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
    with pytest.raises(Invalid, match="duration 0.200 s") as err:
        check_audio(good_wav(tmp_path / "a.wav", seconds=0.2), CHECKS)
    assert err.value.reason == "duration"


def test_any_rate_and_channels_pass_when_not_constrained(tmp_path):
    path = tmp_path / "a.wav"
    write_wav(path, np.full((2, 8000), 0.1, dtype=np.float32), 8000)
    open_checks = OmegaConf.merge(CHECKS, {"sample_rate": None, "channels": None})
    facts = check_audio(path, open_checks)
    assert (facts.sample_rate, facts.channels) == (8000, 2)


def test_image_file_in_an_audio_task_is_rejected_as_wrong_modality(tmp_path):
    from PIL import Image

    path = tmp_path / "photo.png"
    Image.new("L", (16, 16)).save(path)
    with pytest.raises(Invalid, match="image file") as err:
        check_audio(path, CHECKS)
    assert err.value.reason == "wrong_modality"
