"""Data: image decoder, mapper registry, shared transforms, synthetic datasets (registered on
import). Importing it makes detectron2's ``detection_utils.read_image`` decode RGB/BGR images
with the project decoder (:mod:`vision_plugins.data.image_io`)."""

from .densepose import (  # noqa: F401
    load_densepose_coco_json,
    register_builtin_densepose,
    register_densepose_coco,
)
from .image_io import (  # noqa: F401
    UnreadableImageError,
    array_to_bgr,
    install_detectron2_decoder,
    read_image,
)
from .mappers import MAPPER_REGISTRY, DataLoadError, DatasetMapper, build_mapper  # noqa: F401
from .mpii import register_builtin_mpii
from .panoptic import register_builtin_panoptic, register_panoptic_dataset  # noqa: F401
from .super_resolution import (  # noqa: F401
    SRMapper,
    add_sr_input_config,
    build_sr_test_augmentation,
    imresize,
    register_builtin_sr,
    register_sr_hr_folder,
    register_sr_paired,
)
from .synthetic import SYNTHETIC_DATASETS, ensure_generated, register_all_synthetic
from .transforms import FixedSizeResize, build_test_augmentation, native_resolution  # noqa: F401
from .translation import (  # noqa: F401
    TranslationMapper,
    aligned_input_half,
    build_translation_test_augmentation,
    load_aligned_dataset,
    load_single_dataset,
    load_unaligned_dataset,
    register_aligned_dataset,
    register_builtin_translation,
    register_single_dataset,
    register_unaligned_dataset,
)
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


install_detectron2_decoder()
register_all_synthetic()
register_builtin_densepose()
register_builtin_mpii()
register_builtin_panoptic()
register_builtin_video_panoptic()
register_builtin_youtube_vis()
register_builtin_widerface()
register_builtin_translation()
register_builtin_sr()
