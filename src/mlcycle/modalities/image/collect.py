"""collect for image: the files' (mlcycle.modalities.files.collect), with images' defects
(empty, truncated, not an image, tiny, 16-bit grayscale)."""

from mlcycle.data.defects import Defects
from mlcycle.modalities.files.collect import FileCollect
from mlcycle.modalities.image.defects import IMAGE_DEFECTS, inject_image_defect

PART = FileCollect(Defects(IMAGE_DEFECTS, inject_image_defect))
