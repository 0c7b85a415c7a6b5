"""Pix2Pix (Isola et al., CVPR 2017): paired image-to-image translation."""

from .meta_arch import Pix2Pix  # noqa: F401
from .spec import SPEC  # noqa: F401
