"""What the Stacked Hourglass pose model and its regression baseline plug in (the same keys,
counts, mapper and test transform; the converter and the official runner are the hourglass')."""

from dataclasses import replace

from ..spec import ArchSpec, CountCheck, register_spec
from . import convert  # noqa: F401  (registers the converter named below)
from .config import add_pose_hourglass_config
from .export import export_pose
from .mapper import TopDownPoseMapper, build_pose_test_augmentation

STACKED_HOURGLASS = register_spec(
    ArchSpec(
        meta_arch="StackedHourglassPose",
        package="pose_hourglass",
        config_dir="StackedHourglass",
        project="StackedHourglass",
        add_config=add_pose_hourglass_config,
        counts=(CountCheck("MODEL.POSE_HOURGLASS.OUP_DIM", "keypoint_names"),),
        mappers=(TopDownPoseMapper,),
        test_augmentation=build_pose_test_augmentation,
        converters=("shg",),
        exporter=export_pose,
        official_runner="tests.official.stacked_hourglass:runner",
        demo_threshold=0.0,  # a pose's score is its mean heatmap peak (0.09-0.24 on vp_pose_mpii)
    )
)

KEYPOINT_REGRESSION = register_spec(
    replace(
        STACKED_HOURGLASS,
        meta_arch="KeypointRegressionPose",
        converters=(),
        official_runner=None,
    )
)
