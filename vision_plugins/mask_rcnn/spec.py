"""What Mask R-CNN (detectron2's ``GeneralizedRCNN``) plugs in: count checks only; detectron2's
mapper, test transform (shortest-edge resize) and evaluators apply."""

from ..spec import ArchSpec, CountCheck, register_spec

SPEC = register_spec(
    ArchSpec(
        meta_arch="GeneralizedRCNN",
        package="mask_rcnn",
        config_dir="Mask-RCNN",
        project="Mask-RCNN",
        counts=(
            CountCheck("MODEL.ROI_HEADS.NUM_CLASSES", "thing_classes"),
            CountCheck(
                "MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS", "keypoint_names", "MODEL.KEYPOINT_ON"
            ),
        ),
    )
)
