"""featurize for image: the files' (mlcycle.modalities.files.featurize)."""

from mlcycle.modalities.files.featurize import featurize as PART

__all__ = ["PART"]
