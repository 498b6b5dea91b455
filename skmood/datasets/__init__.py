"""Data sets for happy/sad face classification.

:func:`load_image_folder` lists the images of a folder laid out as one
sub-folder per class (``happy/``, ``sad/``), and :func:`make_faces` generates
a synthetic data set of cartoon faces, in memory or as such a folder.
:func:`find_images` lists the images among files and folders (what
``skmood predict`` classifies).
"""

from __future__ import annotations

from ._faces import make_faces
from ._folder import IMAGE_EXTENSIONS, find_images, load_image_folder

__all__ = ["IMAGE_EXTENSIONS", "find_images", "load_image_folder", "make_faces"]
