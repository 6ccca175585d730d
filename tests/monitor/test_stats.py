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
