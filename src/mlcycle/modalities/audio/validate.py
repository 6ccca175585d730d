"""validate for audio: the files' (mlcycle.modalities.files.validate), each clip checked
for decoding, rate, channels, duration, level, clipping and silence."""

from mlcycle.data.audio_checks import AudioFacts, check_audio
from mlcycle.data.validation import Checker
from mlcycle.modalities.files.validate import FileValidate

PART = FileValidate(
    Checker(check_audio, AudioFacts),
    {
        "duration_s": "duration (s)",
        "rms_dbfs": "loudness (dBFS)",
        "snr_db": "signal-to-noise ratio (dB)",
    },
)
