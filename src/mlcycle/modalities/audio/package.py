"""package for audio: the files' reference profile (mlcycle.modalities.files.package) of
the clips' statistics (mlcycle.modalities.audio.stats)."""

from mlcycle.modalities.audio.stats import STATS
from mlcycle.modalities.files.package import FileReference

PART = FileReference(STATS)
