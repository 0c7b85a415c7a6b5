"""What RetinaFace plugs in (one class, five landmarks: no count keys)."""

from ..data import native_resolution
from ..spec import ArchSpec, register_spec
from . import convert  # noqa: F401  (registers the converters named below)
from .config import add_retinaface_config
from .export import export_retinaface
from .mapper import RetinaFaceMapper

SPEC = register_spec(
    ArchSpec(
        meta_arch="RetinaFace",
        package="retinaface",
        config_dir="RetinaFace",
        project="RetinaFace",
        add_config=add_retinaface_config,
        mappers=(RetinaFaceMapper,),
        test_augmentation=native_resolution,  # the reference evaluates at the original size
        converters=("retinaface_mnet", "retinaface_r50"),
        exporter=export_retinaface,
        official_runner="tests.official.retinaface:runner",
    )
)
