"""What YOLACT / YOLACT++ plugs in."""

from ..spec import ArchSpec, CountCheck, register_spec
from . import convert  # noqa: F401  (registers the converters named below)
from .config import add_yolact_config
from .export import export_yolact
from .mapper import YolactDatasetMapper, build_yolact_test_augmentation

SPEC = register_spec(
    ArchSpec(
        meta_arch="YOLACT",
        package="yolact",
        config_dir="YOLACT",
        project="YOLACT",
        add_config=add_yolact_config,
        counts=(CountCheck("MODEL.YOLACT.NUM_CLASSES", "thing_classes"),),
        mappers=(YolactDatasetMapper,),
        test_augmentation=build_yolact_test_augmentation,
        converters=("yolact", "yolact_plus"),
        exporter=export_yolact,
        official_runner="tests.official.yolact:runner",
    )
)
