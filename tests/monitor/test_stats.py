import numpy as np
from PIL import Image

from mlcycle.monitor.stats import audio_stats, image_stats


def test_audio_statistics_of_known_signals():
    rate = 16000
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate).astype(np.float32)
    s = audio_stats(tone[None], rate)
    assert s["duration_s"] == 1.0 and s["sample_rate"] == rate and s["channels"] == 1
    assert abs(s["rms_dbfs"] - 20 * np.log10(0.5 / np.sqrt(2))) < 0.1
    assert s["silent_fraction"] == 0 and s["clipped_fraction"] == 0 and s["non_finite"] == 0
    half_silent = np.r_[tone[: rate // 2], np.zeros(rate // 2, np.float32)]
    assert abs(audio_stats(half_silent[None], rate)["silent_fraction"] - 0.5) < 0.03
    clipped = np.clip(tone * 4, -1, 1)
    assert audio_stats(clipped[None], rate)["clipped_fraction"] > 0.5
    broken = tone.copy()
    broken[:3] = np.nan
    assert audio_stats(np.stack([broken, tone]), rate)["non_finite"] == 3


def test_image_statistics():
    s = image_stats(Image.new("RGB", (30, 20), (255, 255, 255)))
    assert (s["width"], s["height"], s["mode"]) == (30, 20, "RGB")
    assert s["brightness"] == 255 and s["contrast"] == 0


def test_statistics_computed_together_are_each_clips_own():
    """audio_stats_many (the prediction log's batches) gives audio_stats' figures exactly,
    for the clips it computes together and for those it leaves to audio_stats."""
    from mlcycle.monitor.stats import audio_stats_many

    rng = np.random.default_rng(0)
    rate = 16000
    clips = []
    for i in range(70):  # more than one chunk of TOGETHER, at many levels
        level = 10 ** rng.uniform(-4, 0.3)
        x = (level * rng.standard_normal(rate)).astype(np.float32)
        if i % 7 == 0:
            x[: rate // 2] = 0  # half silent
        clips.append((np.clip(x, -1, 1)[None], rate))
    odd = rng.standard_normal((1, rate)).astype(np.float32)
    odd[0, 5] = np.nan
    clips += [
        (np.zeros((1, rate), np.float32), rate),  # digital silence
        (np.ones((1, rate), np.float32), rate),  # clipped throughout
        (odd, rate),  # non-finite: replaced as audio_stats replaces it
        (rng.standard_normal((2, rate)).astype(np.float32), rate),  # stereo
        (rng.standard_normal((1, 100)).astype(np.float32), rate),  # shorter than a frame
        (rng.standard_normal((1, 8000)).astype(np.float32), 8000),  # another rate
        (rng.standard_normal((1, 24000)).astype(np.float32), rate),  # another length
        (rng.standard_normal((1, rate)), rate),  # float64
    ]
    order = rng.permutation(len(clips))  # mixed, as requests arrive
    clips = [clips[i] for i in order]
    assert audio_stats_many(clips) == [audio_stats(*c) for c in clips]
    assert audio_stats_many([]) == []
