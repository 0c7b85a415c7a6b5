"""What DensePose R-CNN (``GeneralizedRCNN`` with ``DensePoseUVROIHeads``) plugs in: its mapper,
count checks, and the IUV drawing of ``tools/demo.py``. GPS / GPSm evaluation follows the
dataset's ``evaluator_type`` ("densepose")."""

from ..mask_rcnn.spec import SPEC as MASK_RCNN_SPEC
from ..spec import ArchSpec, register_spec
from .config import add_densepose_uv_config
from .mapper import DensePoseUVMapper
from .visualize import draw_predictions

SPEC = register_spec(
    ArchSpec(
        meta_arch="GeneralizedRCNN",
        roi_heads="DensePoseUVROIHeads",
        package="densepose_uv",
        config_dir="DensePose",
        project="DensePose",
        add_config=add_densepose_uv_config,
        counts=MASK_RCNN_SPEC.counts,
        mappers=(DensePoseUVMapper,),
        visualize=draw_predictions,
    )
)
