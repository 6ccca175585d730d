"""Reviewing image labels: each image, inline."""

from mlcycle.modalities.files.review import FileReview

PART = FileReview("image/png", '<img width="64" src="{src}">')
