"""Audio: clips (WAV, FLAC, OGG) of spoken keywords or the user's own sounds."""
