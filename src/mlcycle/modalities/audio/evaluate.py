"""evaluate for audio: the files' (mlcycle.modalities.files.evaluate), sliced by accent,
voice family and SNR; the baseline on each mel bin's mean and deviation over time."""

from mlcycle.modalities.files.evaluate import FileEvaluate
from mlcycle.models.evaluation import pooled_over_time

PART = FileEvaluate(["accent", "variant_family", "snr_bucket"], pooled_over_time)
