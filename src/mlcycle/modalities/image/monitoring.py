"""Monitoring images: size, mode, brightness and contrast of each image."""

from mlcycle.modalities.files.monitoring import FileMonitoring

BLANK_CONTRAST = 2.0  # an image this flat (grayscale std) carries nothing to recognise

PART = FileMonitoring("image", lambda served: served["contrast"] < BLANK_CONTRAST)
