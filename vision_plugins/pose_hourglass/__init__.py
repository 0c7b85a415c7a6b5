"""Stacked Hourglass human pose estimation (Newell et al., ECCV 2016).

Importing registers ``build_pose_hourglass_backbone`` (BACKBONE_REGISTRY), the meta-architectures
``StackedHourglassPose`` and ``KeypointRegressionPose`` (META_ARCH_REGISTRY), the
``TopDownPoseMapper`` and the ``shg`` weight converter.
"""

from . import spec  # noqa: F401  (registration)
from .backbone import PoseHourglassBackbone, build_pose_hourglass_backbone  # noqa: F401
from .config import add_pose_hourglass_config  # noqa: F401
from .mapper import TopDownPoseMapper  # noqa: F401
from .meta_arch import KeypointRegressionPose, StackedHourglassPose  # noqa: F401
