"""Monitoring audio: duration, level, clipping, silence, rate and channels of each clip;
simulated noise, gain and pitch."""

from mlcycle.modalities.audio.stats import STATS
from mlcycle.modalities.files.monitoring import FileMonitoring
from mlcycle.monitor.simulate import AUDIO_SHIFTS

SILENT_FRACTION = 0.9  # a clip this silent carries nothing to recognise

PART = FileMonitoring(
    "audio",
    STATS,
    lambda served: served["silent_fraction"] >= SILENT_FRACTION,
    AUDIO_SHIFTS,
    "audio/wav",
)
