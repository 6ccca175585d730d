"""collect for image: the files' (mlcycle.modalities.files.collect)."""

from mlcycle.modalities.files.collect import collect as PART

__all__ = ["PART"]
