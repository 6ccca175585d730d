"""package for image: the files' reference profile (mlcycle.modalities.files.package) of
the images' statistics (mlcycle.modalities.image.stats)."""

from mlcycle.modalities.files.package import FileReference
from mlcycle.modalities.image.stats import STATS

PART = FileReference(STATS)
