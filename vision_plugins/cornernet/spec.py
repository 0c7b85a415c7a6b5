"""What CornerNet and CenterNet (keypoint triplets) plug in. Both take the image at its own
resolution: scales, padding and flip are done by the model, as the official test code does
(``MODEL.CORNERNET.TEST_SCALES``, ``FLIP_TEST``). Training with the official sampling:
``CornerNetMapper`` (``mapper.py``, ``INPUT.CORNERNET``)."""

from dataclasses import replace

from ..data import native_resolution
from ..spec import ArchSpec, CountCheck, register_spec
from . import convert  # noqa: F401  (registers the converters named below)
from .config import add_cornernet_config
from .export import export_cornernet
from .mapper import CornerNetMapper

CORNERNET = register_spec(
    ArchSpec(
        meta_arch="CornerNet",
        package="cornernet",
        config_dir="CornerNet",
        project="CornerNet",
        add_config=add_cornernet_config,
        counts=(CountCheck("MODEL.CORNERNET.NUM_CLASSES", "thing_classes"),),
        test_augmentation=native_resolution,
        mappers=(CornerNetMapper,),
        converters=("cornernet", "cornernet_lite"),
        exporter=export_cornernet,
        official_runner="tests.official.cornernet:runner",
    )
)

# CornerNet's keys, counts, test transform, mapper and official code path; its own converter
CENTERNET_TRIPLET = register_spec(
    replace(CORNERNET, meta_arch="CenterNetTriplet", converters=("centernet_triplet",))
)
