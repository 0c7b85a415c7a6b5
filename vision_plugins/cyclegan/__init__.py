"""CycleGAN (Zhu et al., ICCV 2017): unpaired image-to-image translation."""

from .meta_arch import CycleGAN  # noqa: F401
from .spec import SPEC  # noqa: F401
