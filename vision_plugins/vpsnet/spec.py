"""What VPSNet plugs in: the video panoptic mapper, UPSNet's count checks, streaming inference
(fusion and tracking carry state across the frames of a video) and its tracked-panoptic
drawing."""

from ..spec import ArchSpec, register_spec
from ..upsnet.spec import PANOPTIC_COUNTS
from .config import add_vpsnet_config
from .mapper import VideoPanopticMapper
from .visualize import draw_predictions

SPEC = register_spec(
    ArchSpec(
        meta_arch="VPSNet",
        package="vpsnet",
        config_dir="VPSNet",
        project="VPSNet",
        add_config=add_vpsnet_config,
        counts=PANOPTIC_COUNTS,
        mappers=(VideoPanopticMapper,),
        streaming=True,
        visualize=draw_predictions,
    )
)
