"""The image modality's own sections of params.yaml: none beyond the core schema's
(mlcycle.params types validate.image and featurize.image)."""

PART: dict[str, type] = {}
