"""collect for audio: the files' (mlcycle.modalities.files.collect), with audio's defects
(empty, truncated, silent, clipped, wrong rate, stereo)."""

from mlcycle.data.defects import Defects
from mlcycle.modalities.audio.defects import AUDIO_DEFECTS, inject_audio_defect
from mlcycle.modalities.files.collect import FileCollect

PART = FileCollect(Defects(AUDIO_DEFECTS, inject_audio_defect))
