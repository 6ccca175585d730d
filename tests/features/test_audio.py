import numpy as np
import pytest
import torch

from mlcycle.features.audio import AudioFeaturizer, prepare_waveform
from tests.conftest import audio_features

CFG = audio_features()


def tone(seconds, sr, channels=1, freq=440.0, level=0.3):
    t = np.arange(int(seconds * sr)) / sr
    x = (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x] * channels), sr


@pytest.mark.parametrize(
    "seconds,sr,channels", [(1.0, 16000, 1), (0.6, 8000, 2), (3.0, 44100, 1), (1.0, 22050, 2)]
)
def test_any_rate_channels_and_length_give_the_fixed_input(seconds, sr, channels):
    samples, rate = tone(seconds, sr, channels)
    wave = prepare_waveform(samples, rate, CFG)
    assert wave.shape == (16000,)
    feats = AudioFeaturizer(CFG).raw_features([(samples, rate)])
    assert feats.shape == (1, 1, 40, 51) and torch.isfinite(feats).all()


def test_loudness_is_normalised_to_the_target():
    quiet, sr = tone(1.0, 16000, level=0.01)
    loud, _ = tone(1.0, 16000, level=0.5)
    for samples in (quiet, loud):
        wave = prepare_waveform(samples, sr, CFG)
        dbfs = 20 * np.log10(wave.pow(2).mean().sqrt().item())
        assert abs(dbfs - CFG.target_dbfs) < 0.1


def test_long_clip_keeps_its_loudest_second():
    sr = 16000
    x = np.zeros(3 * sr, dtype=np.float32)
    x[2 * sr : 2 * sr + 4000] = 0.5  # a burst near the end
    wave = prepare_waveform(x, sr, CFG)
    assert wave.abs().max() > 0 and (wave != 0).sum() == 4000


def test_digital_silence_stays_silent_and_finite():
    wave = prepare_waveform(np.zeros(16000, np.float32), 16000, CFG)
    assert torch.count_nonzero(wave) == 0


def test_normalisation_uses_training_statistics():
    rng = np.random.default_rng(0)
    waves = [(rng.standard_normal(16000).astype(np.float32) * 0.1, 16000) for _ in range(8)]
    f = AudioFeaturizer(CFG)
    raw = f.raw_features(waves)
    f.fit_stats(raw)
    normed = f.normalise(raw)
    assert normed.mean(dim=(0, 1, 3)).abs().max() < 1e-4
    assert (normed.std(dim=(0, 1, 3)) - 1).abs().max() < 1e-3
    again = AudioFeaturizer.from_stats({"audio": vars(CFG), **f.stats()})
    assert torch.allclose(again(waves), normed, atol=1e-5)


def test_normalise_without_stats_is_an_error():
    with pytest.raises(RuntimeError, match="statistics"):
        AudioFeaturizer(CFG).normalise(torch.zeros(1, 1, 40, 51))


@pytest.mark.parametrize(
    "subtype,sr,channels,seconds",
    [("PCM_16", 8000, 2, 1.0), ("FLOAT", 44100, 1, 3.0), ("PCM_24", 22050, 1, 0.5)],
)
def test_wav_files_of_any_format_featurize(tmp_path, subtype, sr, channels, seconds):
    from mlcycle.data.audio_io import write_wav

    samples, _ = tone(seconds, sr, channels)
    write_wav(tmp_path / "a.wav", samples, sr, subtype=subtype)
    f = AudioFeaturizer(CFG)
    x = f.raw_features([f.decode(tmp_path / "a.wav")])
    assert x.shape == (1, 1, 40, 51) and torch.isfinite(x).all()


@pytest.mark.parametrize(
    "cfg,clips",
    [(CFG, 37), (audio_features(sample_rate=8000, n_fft=256, hop_length=80, n_mels=32), 5)],
)
def test_log_mel_matches_torchaudio_melspectrogram(cfg, clips):
    import torchaudio

    from mlcycle.features.audio import LogMel

    waves = torch.randn(clips, cfg.num_samples, generator=torch.Generator().manual_seed(0)) * 0.1
    reference = torchaudio.transforms.MelSpectrogram(
        sample_rate=cfg.sample_rate,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        n_mels=cfg.n_mels,
        f_min=20.0,
        f_max=cfg.sample_rate / 2,
    )
    with torch.no_grad():
        ours = LogMel(cfg)(waves)
        expected = torch.log(reference(waves) + 1e-6).unsqueeze(1)
    assert ours.shape == expected.shape
    assert torch.allclose(ours, expected, atol=1e-4)


def test_a_batch_levels_each_clip_as_if_alone():
    rng = np.random.default_rng(1)
    waves = [(rng.standard_normal(16000).astype(np.float32) * g, 16000) for g in (1e-4, 0.05, 2.0)]
    waves.append((np.zeros(16000, np.float32), 16000))
    f = AudioFeaturizer(CFG)
    together = f.raw_features(waves)
    alone = torch.cat([f.raw_features([w]) for w in waves])
    assert torch.equal(together, alone)


def test_the_scripted_featurizer_gives_the_eager_operations_numbers_bit_for_bit():
    """Serving and featurize run level -> LogMel -> normalise as one TorchScript call (it
    holds the GIL only to start); the numbers are those of the eager modules, exactly, for
    clips that take the one-copy path (mono, at the rate and length) and those that do not."""
    from mlcycle.features.audio import LogMel, fit_length, level

    rng = np.random.default_rng(3)
    n = CFG.num_samples
    clips = [
        (rng.standard_normal((1, n)).astype(np.float32) * g, CFG.sample_rate) for g in (0.01, 1)
    ]
    clips.append((np.zeros((1, n), np.float32), CFG.sample_rate))
    odd = [
        (rng.standard_normal((2, n)).astype(np.float32) * 0.1, CFG.sample_rate),  # stereo
        (rng.standard_normal((1, n // 2)).astype(np.float32), CFG.sample_rate),  # short
        (rng.standard_normal((1, 12000)).astype(np.float32) * 0.1, 12000),  # other rate
    ]
    f = AudioFeaturizer(CFG, mean=[0.5] * CFG.n_mels, std=[2.0] * CFG.n_mels)
    for waves in (clips, clips + odd):
        batch = torch.stack([fit_length(s, r, CFG) for s, r in waves])
        with torch.no_grad():
            eager = LogMel(CFG)(level(batch, CFG))
        assert torch.equal(f.raw_features(waves), eager)
        assert torch.equal(f(waves), (eager - f.mean) / f.std)
