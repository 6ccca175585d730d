"""What the file modalities (audio, image) share: a pipeline, serving and monitoring of
examples that are files, which their folders configure."""
