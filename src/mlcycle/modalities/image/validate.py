"""validate for image: the files' (mlcycle.modalities.files.validate)."""

from mlcycle.modalities.files.validate import validate as PART

__all__ = ["PART"]
