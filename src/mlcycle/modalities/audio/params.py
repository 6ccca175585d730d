"""The audio modality's own sections of params.yaml: none beyond the core schema's
(mlcycle.params types validate.audio and featurize.audio)."""

PART: dict[str, type] = {}
