"""package for image: the files' (mlcycle.modalities.files.package)."""

from mlcycle.modalities.files.package import reference as PART

__all__ = ["PART"]
