"""Data: mapper registry, shared transforms, synthetic datasets (registered on import)."""

from .densepose import (  # noqa: F401
    DensePoseUVMapper,
    load_densepose_coco_json,
    register_builtin_densepose,
    register_densepose_coco,
)
from .mappers import MAPPER_REGISTRY, DataLoadError, build_mapper  # noqa: F401
from .mpii import register_builtin_mpii
from .panoptic import (  # noqa: F401
    PanopticMapper,
    register_builtin_panoptic,
    register_panoptic_dataset,
)
from .synthetic import register_all_synthetic
from .transforms import (  # noqa: F401
    FixedSizeResize,
    build_test_augmentation,
    register_test_augmentation,
)
from .video_instances import register_builtin_youtube_vis
from .video_panoptic import (  # noqa: F401
    VideoPanopticMapper,
    load_video_panoptic,
    register_builtin_video_panoptic,
    register_video_panoptic,
)
from .widerface import register_builtin_widerface

register_all_synthetic()
register_builtin_densepose()
register_builtin_mpii()
register_builtin_panoptic()
register_builtin_video_panoptic()
register_builtin_youtube_vis()
register_builtin_widerface()
