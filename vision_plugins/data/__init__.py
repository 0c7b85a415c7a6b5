"""Data: mapper registry, shared transforms, synthetic datasets (registered on import)."""

from .densepose import (  # noqa: F401
    load_densepose_coco_json,
    register_builtin_densepose,
    register_densepose_coco,
)
from .mappers import MAPPER_REGISTRY, DataLoadError, build_mapper  # noqa: F401
from .mpii import register_builtin_mpii
from .panoptic import register_builtin_panoptic, register_panoptic_dataset  # noqa: F401
from .synthetic import SYNTHETIC_DATASETS, ensure_generated, register_all_synthetic
from .transforms import FixedSizeResize, build_test_augmentation, native_resolution  # noqa: F401
from .video_instances import register_builtin_youtube_vis
from .video_panoptic import (  # noqa: F401
    load_video_panoptic,
    register_builtin_video_panoptic,
    register_video_panoptic,
)
from .widerface import register_builtin_widerface


def prepare_dataset_files(name: str) -> None:
    """Make the files of the registered dataset ``name`` exist before something reads them
    through its metadata (``json_file``, ...): the synthetic datasets are generated on first use;
    other datasets are left as they are."""
    if name in SYNTHETIC_DATASETS:
        ensure_generated(name)


register_all_synthetic()
register_builtin_densepose()
register_builtin_mpii()
register_builtin_panoptic()
register_builtin_video_panoptic()
register_builtin_youtube_vis()
register_builtin_widerface()
