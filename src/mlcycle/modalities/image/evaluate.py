"""evaluate for images: the files' (mlcycle.modalities.files.evaluate), sliced by size and
mode; the baseline on the pixels themselves."""

from mlcycle.modalities.files.evaluate import FileEvaluate
from mlcycle.models.evaluation import flattened

PART = FileEvaluate(["size", "mode"], flattened)
