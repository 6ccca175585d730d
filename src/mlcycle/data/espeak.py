"""eSpeak NG through ctypes on the library that the `espeakng-loader` wheel carries.

eSpeak NG keeps global state: one :class:`Espeak` per process, used from one thread.
The ctypes callback object is held on the instance so the C library never calls freed memory.
Its output also depends on every utterance spoken before in the process (the waveform
generator carries its state on), so callers speak through :func:`in_fresh_processes`:
what a call returns depends only on its arguments, never on what ran earlier.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_RATE, _PITCH = 1, 3
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


T = TypeVar("T")
R = TypeVar("R")


class EspeakError(RuntimeError):
    """eSpeak NG refused a voice or an utterance."""


class Espeak:
    """Synchronous speech synthesis to int16 NumPy arrays at :attr:`sample_rate` Hz."""

    _instance: Espeak | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.data_path = Path(espeakng_loader.get_data_path())
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.sample_rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), 0
        )
        if self.sample_rate <= 0:
            raise EspeakError(f"espeak_Initialize failed with data at {self.data_path}")
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # kept alive for the library's lifetime
        self._lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def get(cls) -> Espeak:
        """The process-wide instance (the C library cannot hold two)."""
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _collect(self, wav, n: int, _events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def reset_random(self, seed: int = 0) -> None:
        """Seed the noise of breathy and whispered voices (libc rand() and eSpeak's own)."""
        ctypes.CDLL(None).srand(seed)
        self._lib.espeak_ng_SetRandSeed(ctypes.c_long(seed))

    def synth(self, text: str, voice: str, rate_wpm: int = 175, pitch: int = 50) -> np.ndarray:
        """Speak `text` with `voice` (e.g. ``en-gb-scotland+f3``); int16 samples."""
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EspeakError(f"unknown eSpeak voice {voice!r}")
        self._lib.espeak_SetParameter(_RATE, int(rate_wpm), 0)
        self._lib.espeak_SetParameter(_PITCH, int(pitch), 0)
        self._chunks = []
        data = text.encode()
        if self._lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 0, None, None) != 0:
            raise EspeakError(f"espeak_Synth failed for {text!r} with {voice!r}")
        self._lib.espeak_Synchronize()
        if not self._chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(self._chunks)


def variants() -> list[str]:
    """Voice variants shipped with the data (names usable after `+` in a voice name)."""
    import espeakng_loader

    folder = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    return sorted(p.name for p in folder.iterdir() if p.is_file() and " " not in p.name)


def in_fresh_processes(fn: Callable[[T], R], items: Sequence[T], workers: int = 2) -> Iterator[R]:
    """Yield fn(item) for each item in order, each call in a newly forked process.

    The children are forked from a fork server, a clean single-threaded process that
    never speaks, so every child starts from the same eSpeak state. (Forking the caller
    itself, whose pool threads and libraries hold locks at any moment, now and then left
    a child waiting on a lock no thread would release.)
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([fn.__module__])
    with context.Pool(processes=max(1, workers), maxtasksperchild=1) as pool:
        yield from pool.imap(fn, items)
