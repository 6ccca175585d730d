"""Reviewing audio labels: a player per clip."""

from mlcycle.modalities.files.review import FileReview

PART = FileReview("audio/wav", '<audio controls preload="none" src="{src}"></audio>')
