"""Each augmentation does what its name says, measured on a real Pico utterance."""

import numpy as np
import pytest

from mlcycle.data import augment, pico
from mlcycle.params import Augment, Perturbation

RATE = 16000


@pytest.fixture(scope="module")
def speech():
    return (pico.synth("left", "en-US") / 32768.0).astype(np.float32)


def spectrum(x):
    power = np.abs(np.fft.rfft(x)) ** 2
    return np.fft.rfftfreq(len(x), 1 / RATE), power


def centroid(x):
    freqs, power = spectrum(x)
    return float((freqs * power).sum() / power.sum())


def test_speed_perturbation_changes_the_length_by_the_factor(speech):
    faster, slower = augment.speed(speech, RATE, 1.15), augment.speed(speech, RATE, 0.85)
    assert abs(len(faster) - len(speech) / 1.15) <= 2
    assert abs(len(slower) - len(speech) / 0.85) <= 2
    assert centroid(faster) > centroid(speech) > centroid(slower)


def test_vtlp_moves_the_spectrum_up_or_down_and_keeps_the_length(speech):
    shorter_tract, longer_tract = augment.vtlp(speech, RATE, 1.15), augment.vtlp(speech, RATE, 0.85)
    assert len(shorter_tract) == len(longer_tract) == len(speech)
    assert centroid(shorter_tract) > 1.05 * centroid(speech)
    assert centroid(longer_tract) < 0.97 * centroid(speech)
    same = augment.vtlp(speech, RATE, 1.0001)  # a warp of nothing gives the clip back
    assert np.corrcoef(same, speech)[0, 1] > 0.999


def test_a_telephone_line_keeps_300_to_3400_hz(speech):
    phone = augment.telephone(speech, RATE)
    freqs, power = spectrum(phone)
    _, before = spectrum(speech)
    outside = (freqs > 3600) | (freqs < 200)
    assert len(phone) == len(speech)
    assert power[outside].sum() / power.sum() < 0.01 < before[outside].sum() / before.sum()


def test_equalisation_and_codec_colour_the_clip_but_keep_it(speech):
    flat = augment.equalise(speech, RATE, np.zeros(augment.EQ_BANDS))
    assert np.allclose(flat, speech, atol=1e-4)
    tilted = augment.equalise(speech, RATE, np.linspace(-8, 8, augment.EQ_BANDS))
    assert centroid(tilted) > centroid(speech)
    coded = augment.codec(speech, RATE, 1.0)
    assert len(coded) == len(speech) and np.corrcoef(coded, speech)[0, 1] > 0.9
    assert not np.allclose(coded, speech, atol=1e-3)


def config(p):
    ranges = ([0.9, 1.1], [0.9, 1.1], [0, 6], [0, 0], [0.5, 1])
    return Augment(*(Perturbation(p, r) for r in ranges))


def test_augmentations_are_pure_functions_of_their_seed_and_off_at_p_0(speech):
    def run(cfg, seed):
        rng = np.random.default_rng(seed)
        x, done = augment.voice(speech, RATE, cfg, rng)
        return augment.channel(np.pad(x, (0, 16000 - len(x))), RATE, cfg, rng)[0], done

    a, done = run(config(1.0), 3)
    b, _ = run(config(1.0), 3)
    assert np.array_equal(a, b) and done["speed"] != 1.0 and done["vtlp"] != 1.0
    off, done = run(config(0.0), 3)
    assert done == {"speed": 1.0, "vtlp": 1.0}
    assert np.allclose(off[: len(speech)], speech, atol=1e-6)


def test_pico_speaks_the_same_way_every_time_and_names_a_bad_voice():
    assert np.array_equal(pico.synth("yes", "en-GB", 120, 90), pico.synth("yes", "en-GB", 120, 90))
    with pytest.raises(pico.PicoError, match="klingon"):
        pico.synth("yes", "klingon")
    with pytest.raises(pico.PicoError, match="rate 900"):
        pico.synth("yes", "en-US", rate=900)
