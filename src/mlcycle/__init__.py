"""mlcycle: a model's production lifecycle as a DVC pipeline of Hydra-configured stages."""

import os

__version__ = "0.1.0"

# OpenMP threads that wait for work sleep instead of spinning. torch's thread count in a
# training stage is a param (mlcycle.threads), so two stages beside each other under
# `dvc queue start -j 2` may ask for more threads than there are cores; spinning threads
# then steal the cores from the working ones (measured: training 7x slower; sleeping, it
# costs <5 % alone). libgomp reads this when torch loads, so it is set before any import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
