"""validate for images: the files' (mlcycle.modalities.files.validate), each image checked
for decoding, size and mode."""

from mlcycle.data.image_checks import ImageFacts, check_image
from mlcycle.data.validation import Checker
from mlcycle.modalities.files.validate import FileValidate

PART = FileValidate(
    Checker(check_image, ImageFacts),
    {"width": "width (px)", "height": "height (px)", "brightness": "brightness (0-255)"},
)
