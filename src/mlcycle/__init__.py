"""mlcycle: a model's production lifecycle as a DVC pipeline of Hydra-configured stages."""

import os
import sys

__version__ = "0.1.0"

# OpenMP threads that wait for work sleep instead of spinning. torch's thread count in a
# training stage is a param (mlcycle.threads), so two stages beside each other under
# `dvc queue start -j 2` may ask for more threads than there are cores; spinning threads
# then steal the cores from the working ones (measured: training 7x slower; sleeping, it
# costs <5 % alone). libgomp reads this when torch loads, so it is set before any import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# A pipeline stage (`python -m mlcycle.stages.<name>`, as dvc.yaml runs them) uses the
# same CPU kernels on every x86-64 machine with AVX2: torch (ATen), oneDNN and MKL pick
# their kernels by the CPU's vector extensions, kernels of another width sum in another
# order, and the features and trained weights of an AVX-512 machine differed from those
# of the same run held to AVX2 kernels. Held to AVX2 (their own switches, read when each
# library first runs), the AVX-512 machine's run gave the numbers of its AVX2 kernels: a
# fresh clone on either kind of CPU should rebuild the committed dvc.lock (an AVX2-only
# CPU has not been tried). Measured on the 2-core AVX-512 machine: a training step 5 %
# slower (best of three 74.9 ms against 70.9, the runs spreading 70.9-92.5 ms), featurize
# within run-to-run noise. A variable already set wins (e.g.
# ATEN_CPU_CAPABILITY=avx512 for the fastest kernels, at the price of other numbers).
# Serving and everything else keep the CPU's own kernels.
STAGE_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "DNNL_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}


STAGE_MODULE = "mlcycle.stages."


def is_stage(cmdline: list[str]) -> bool:
    """Whether a command line runs a pipeline stage (`python -m mlcycle.stages.<name>`)."""
    return any(
        a == "-m" and b.startswith(STAGE_MODULE) for a, b in zip(cmdline, cmdline[1:], strict=False)
    )


def hold_stage_kernels(cmdline: list[str], environ: dict | os._Environ = os.environ) -> None:
    """STAGE_KERNELS into `environ` (unless set there) when `cmdline` runs a stage."""
    if is_stage(cmdline):
        for name, value in STAGE_KERNELS.items():
            environ.setdefault(name, value)


hold_stage_kernels(sys.orig_argv)
