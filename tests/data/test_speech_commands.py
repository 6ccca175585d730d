import numpy as np
from omegaconf import OmegaConf

from mlcycle.config import validate
from mlcycle.data import speech_commands
from tests.conftest import KEYWORD_LABELS, compose_params


def small_source(**changes):
    params = validate(OmegaConf.create(compose_params([])))
    cfg = params.collect.keywords
    cfg.speakers, cfg.repeats, cfg.unknown_per_speaker, cfg.silence_per_speaker = 3, 1, 1, 1
    for k, v in changes.items():
        cfg[k] = v
    return cfg


def test_synthesis_is_deterministic_for_a_seed():
    a = list(speech_commands.synthesise(small_source(), seed=7))
    b = list(speech_commands.synthesise(small_source(), seed=7))
    assert len(a) == len(b) == 3 * 12
    for x, y in zip(a, b):
        assert x.label == y.label and np.array_equal(x.samples, y.samples)


def test_other_seed_gives_other_recordings():
    a = next(speech_commands.synthesise(small_source(), seed=1))
    b = next(speech_commands.synthesise(small_source(), seed=2))
    assert not np.array_equal(a.samples, b.samples)


def test_clips_are_one_second_16k_with_speech_above_noise():
    for clip in speech_commands.synthesise(small_source(), seed=0):
        assert clip.samples.shape == (16000,) and clip.samples.dtype == np.float32
        assert np.max(np.abs(clip.samples)) <= 1.0
        if clip.label != "_silence_":
            assert clip.meta["snr_db"] >= 5.0
            assert np.max(np.abs(clip.samples)) > 0.05


def test_speakers_cover_accents_in_rotation():
    cfg = small_source(speakers=16)
    speakers = speech_commands.make_speakers(cfg, 0, ["m1", "f1"])
    assert [s.accent for s in speakers[:8]] == list(cfg.accents)
    assert len({s.id for s in speakers}) == 16


def test_every_label_of_the_task_is_produced():
    labels = {c.label for c in speech_commands.synthesise(small_source(), seed=0)}
    assert labels == set(KEYWORD_LABELS)


def test_growing_the_collection_keeps_existing_speakers_clips():
    small = list(speech_commands.synthesise(small_source(speakers=2), seed=3))
    grown = list(speech_commands.synthesise(small_source(speakers=4), seed=3))
    assert len(grown) == 2 * len(small)
    for x, y in zip(small, grown):
        assert x.speaker == y.speaker and np.array_equal(x.samples, y.samples)
