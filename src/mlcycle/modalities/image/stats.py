"""What the log and the reference profile record of an image (mlcycle.monitor.stats)."""

from mlcycle.monitor.stats import InputStats, image_stats

STATS = InputStats(
    numeric=("width", "height", "brightness", "contrast"),
    categorical=("mode",),
    of=image_stats,  # decoded: a PIL image
    nbytes=lambda image: image.width * image.height * len(image.getbands()),
)
