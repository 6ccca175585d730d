"""Monitoring images: size, mode, brightness and contrast of each image; simulated
darkening and rotation."""

from mlcycle.modalities.files.monitoring import FileMonitoring
from mlcycle.modalities.image.stats import STATS
from mlcycle.monitor.simulate import IMAGE_SHIFTS

BLANK_CONTRAST = 2.0  # an image this flat (grayscale std) carries nothing to recognise

PART = FileMonitoring(
    "image", STATS, lambda served: served["contrast"] < BLANK_CONTRAST, IMAGE_SHIFTS, "image/png"
)
