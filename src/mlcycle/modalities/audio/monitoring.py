"""Monitoring audio: duration, level, clipping, silence, rate and channels of each clip."""

from mlcycle.modalities.files.monitoring import FileMonitoring

SILENT_FRACTION = 0.9  # a clip this silent carries nothing to recognise

PART = FileMonitoring("audio", lambda served: served["silent_fraction"] >= SILENT_FRACTION)
