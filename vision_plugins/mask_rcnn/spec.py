"""What Mask R-CNN (detectron2's ``GeneralizedRCNN``) plugs in: count checks and the exporter
(detectron2's TracingAdapter, TorchScript); detectron2's mapper, test transform (shortest-edge
resize) and evaluators apply."""

from ..spec import ArchSpec, CountCheck, register_spec
from .export import export_mask_rcnn

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
        exporter=export_mask_rcnn,
    )
)
