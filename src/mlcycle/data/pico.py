"""SVOX Pico through the `ttspico` package: a second synthesiser, unlike eSpeak NG.

eSpeak NG is a formant synthesiser: every voice is the same rule-built vocal tract.
SVOX Pico is a statistical parametric (HMM) synthesiser whose six voices were trained on
the recordings of six real speakers (en-US, en-GB, de-DE, es-ES, fr-FR, it-IT); the
package ships them (its "lingware") and builds the engine from C at install, offline.

A Pico engine carries state from one utterance to the next (its excitation noise), and
costs 1 ms to create: every utterance gets a fresh engine, so that what it returns
depends only on its arguments.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000
VOICES = ("en-US", "en-GB", "de-DE", "es-ES", "fr-FR", "it-IT")
RATE_LIMITS, PITCH_LIMITS = (20, 500), (50, 200)  # percent of the voice's own


class PicoError(RuntimeError):
    """Pico refused a voice or a setting."""


def synth(text: str, voice: str, rate: int = 100, pitch: int = 100) -> np.ndarray:
    """Speak `text` with Pico's `voice` at `rate` and `pitch` (percent); int16 samples at
    SAMPLE_RATE Hz."""
    import ttspico

    if voice not in VOICES:
        raise PicoError(f"unknown Pico voice {voice!r}; choose from {list(VOICES)}")
    for name, value, (low, high) in (
        ("rate", rate, RATE_LIMITS),
        ("pitch", pitch, PITCH_LIMITS),
    ):
        if not low <= value <= high:
            raise PicoError(f"Pico {name} {value} is outside {low}-{high} (percent)")
    try:
        engine = ttspico.TtsEngine(voice)
    except RuntimeError as e:
        raise PicoError(f"cannot start Pico with voice {voice!r}: {e}") from None
    engine.rate, engine.pitch = int(rate), int(pitch)
    pcm = engine.speak(text) if text else None
    return np.frombuffer(pcm, dtype=np.int16).copy() if pcm else np.zeros(0, dtype=np.int16)
