"""The collection is the same bytes on any x86-64 CPU: what a fresh clone's `dvc repro`
rebuilds matches the committed dvc.lock whatever vector extensions its CPU has.

torch, numpy, MKL and oneDNN choose their kernels by CPU (AVX-512 or AVX2 here), and
kernels of another vector width sum in another order. The same synthesis runs twice, in
two processes: with the kernels this CPU picks, and with every library held to AVX2's;
the 16-bit files it writes must be identical. (Before the eSpeak resampling ran in
float64, 7 % of the clips differed.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
import hashlib, json, sys, tempfile
from pathlib import Path
from omegaconf import OmegaConf
from mlcycle.config import validate
from mlcycle.data import speech_commands
from mlcycle.data.audio_io import write_wav
from tests.conftest import compose_params

cfg = validate(OmegaConf.create(compose_params([]))).collect.keywords
cfg.speakers, cfg.repeats, cfg.unknown_per_speaker, cfg.silence_per_speaker = 8, 1, 1, 0
out, digests = Path(tempfile.mkdtemp()), []
for i, clip in enumerate(speech_commands.synthesise(cfg, seed=0)):
    write_wav(out / f"{i}.wav", clip.samples, cfg.sample_rate)
    digests.append(hashlib.md5((out / f"{i}.wav").read_bytes()).hexdigest())
print(json.dumps(digests))
"""

# Each library's switch to a narrower kernel set than the CPU's (a no-op on a CPU without
# AVX-512, where the test still checks that the two runs agree).
AVX2 = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "DNNL_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "AVX2",
    "NPY_DISABLE_CPU_FEATURES": (
        "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"
    ),
}


def synthesise(extra_env: dict[str, str]) -> list[str]:
    env = {**os.environ, **extra_env}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_clips_are_the_same_bytes_with_avx2_kernels_as_with_this_cpus():
    native, avx2 = synthesise({}), synthesise(AVX2)
    assert len(native) == 8 * 11
    differing = [i for i, (a, b) in enumerate(zip(native, avx2)) if a != b]
    assert differing == [], f"{len(differing)} of {len(native)} clips depend on the CPU"
