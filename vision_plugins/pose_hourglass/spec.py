"""What the Stacked Hourglass pose model and its regression baseline plug in."""

from ..spec import ArchSpec, CountCheck, register_spec
from . import convert  # noqa: F401  (registers the converter named below)
from .config import add_pose_hourglass_config
from .mapper import TopDownPoseMapper, build_pose_test_augmentation

_COUNTS = (CountCheck("MODEL.POSE_HOURGLASS.OUP_DIM", "keypoint_names"),)

STACKED_HOURGLASS = register_spec(
    ArchSpec(
        meta_arch="StackedHourglassPose",
        package="pose_hourglass",
        config_dir="StackedHourglass",
        project="StackedHourglass",
        add_config=add_pose_hourglass_config,
        counts=_COUNTS,
        mappers=(TopDownPoseMapper,),
        test_augmentation=build_pose_test_augmentation,
        converters=("shg",),
        official_runner="tests.official.stacked_hourglass:runner",
    )
)

KEYPOINT_REGRESSION = register_spec(
    ArchSpec(
        meta_arch="KeypointRegressionPose",
        package="pose_hourglass",
        config_dir="StackedHourglass",
        project="StackedHourglass",
        add_config=add_pose_hourglass_config,
        counts=_COUNTS,
        test_augmentation=build_pose_test_augmentation,
    )
)
