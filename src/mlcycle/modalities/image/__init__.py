"""Images: PNG, JPEG and the rest Pillow reads; digits or the user's own pictures."""
