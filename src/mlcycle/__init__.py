"""mlcycle: a model's production lifecycle as a DVC pipeline of Hydra-configured stages."""

__version__ = "0.1.0"
