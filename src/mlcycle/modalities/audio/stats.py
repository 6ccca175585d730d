"""What the log and the reference profile record of a clip (mlcycle.monitor.stats)."""

from mlcycle.monitor.stats import InputStats, audio_stats, audio_stats_many

STATS = InputStats(
    numeric=("duration_s", "rms_dbfs", "clipped_fraction", "silent_fraction"),
    categorical=("sample_rate", "channels"),
    of=lambda decoded: audio_stats(*decoded),  # decoded: (samples, rate)
    nbytes=lambda decoded: decoded[0].nbytes,
    many=audio_stats_many,
)
