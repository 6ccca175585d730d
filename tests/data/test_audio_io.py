import io

import numpy as np
import pytest
import soundfile as sf

from mlcycle.data.audio_io import AudioDecodeError, read_audio, read_pcm16_wav, write_wav


def noise(channels, n=4000, seed=0):
    x = np.random.default_rng(seed).standard_normal((channels, n)) * 0.4
    return np.clip(x, -1, 1).astype(np.float32)


@pytest.mark.parametrize("channels", [1, 2])
def test_pcm16_wav_fast_path_equals_soundfile_bit_for_bit(tmp_path, channels):
    x = noise(channels)
    write_wav(tmp_path / "a.wav", x if channels > 1 else x[0], 22050)
    fast = read_pcm16_wav(tmp_path / "a.wav")
    assert fast is not None
    expected, sr = sf.read(tmp_path / "a.wav", dtype="float32", always_2d=True)
    assert fast[1] == sr == 22050
    assert fast[0].shape == (channels, 4000) and fast[0].flags.c_contiguous
    assert np.array_equal(fast[0], expected.T)


@pytest.mark.parametrize("subtype", ["FLOAT", "PCM_24", "PCM_U8"])
def test_other_wav_encodings_decode_through_soundfile(tmp_path, subtype):
    x = noise(1)[0]
    write_wav(tmp_path / "a.wav", x, 16000, subtype=subtype)
    assert read_pcm16_wav(tmp_path / "a.wav") is None
    samples, sr = read_audio((tmp_path / "a.wav").read_bytes())
    assert sr == 16000 and samples.shape == (1, 4000)
    assert np.abs(samples[0] - x).max() < 0.01


def test_a_cut_short_wav_is_left_to_soundfile(tmp_path):
    write_wav(tmp_path / "a.wav", noise(1)[0], 16000)
    data = (tmp_path / "a.wav").read_bytes()
    assert read_pcm16_wav(io.BytesIO(data[: len(data) // 2])) is None


def test_bytes_path_and_stream_decode_alike(tmp_path):
    write_wav(tmp_path / "a.wav", noise(2), 16000)
    data = (tmp_path / "a.wav").read_bytes()
    from_path, from_bytes = read_audio(tmp_path / "a.wav"), read_audio(data)
    stream = io.BytesIO(b"xx" + data)
    stream.seek(2)
    from_stream = read_audio(stream)
    for samples, sr in (from_bytes, from_stream):
        assert sr == from_path[1] and np.array_equal(samples, from_path[0])


def test_flac_after_a_failed_fast_path_still_decodes(tmp_path):
    sf.write(tmp_path / "a.flac", noise(1)[0], 16000, format="FLAC")
    stream = io.BytesIO((tmp_path / "a.flac").read_bytes())
    samples, sr = read_audio(stream)
    assert sr == 16000 and samples.shape == (1, 4000)


def test_garbage_is_a_decode_error():
    with pytest.raises(AudioDecodeError):
        read_audio(b"RIFF....WAVEnot really")


def test_damaged_wavs_never_escape_as_anything_but_a_decode_error(tmp_path):
    write_wav(tmp_path / "a.wav", noise(1, n=400), 16000)
    data = bytearray((tmp_path / "a.wav").read_bytes())
    rng = np.random.default_rng(0)
    for _ in range(300):
        damaged = bytearray(data[: rng.integers(0, len(data) + 1)])
        for i in rng.integers(0, max(len(damaged), 1), size=rng.integers(0, 4)):
            if damaged:
                damaged[i] = rng.integers(0, 256)
        try:
            samples, sr = read_audio(bytes(damaged))
        except AudioDecodeError:
            continue
        assert samples.dtype == np.float32 and samples.ndim == 2 and sr > 0
