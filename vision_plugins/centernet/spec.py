"""What CenterNet "Objects as Points" plugs in (the image at its own resolution: the model pads
it, as the official ``--keep_res`` test does; training with ``CenterNetMapper``: the official
random scale / shift / flip crop and colour augmentation)."""

from ..data import native_resolution
from ..spec import ArchSpec, CountCheck, register_spec
from . import convert  # noqa: F401  (registers the converters named below)
from .config import add_centernet_oap_config
from .export import export_centernet_oap
from .mapper import CenterNetMapper

SPEC = register_spec(
    ArchSpec(
        meta_arch="CenterNetOAP",
        package="centernet",
        config_dir="CenterNet",
        project="CenterNet",
        add_config=add_centernet_oap_config,
        counts=(CountCheck("MODEL.CENTERNET_OAP.NUM_CLASSES", "thing_classes"),),
        test_augmentation=native_resolution,
        mappers=(CenterNetMapper,),
        converters=("centernet_oap_hg", "centernet_oap_res18", "centernet_oap_resdcn18"),
        exporter=export_centernet_oap,
        official_runner="tests.official.centernet_oap:runner",
    )
)
