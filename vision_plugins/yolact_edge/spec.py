"""What YolactEdge plugs in (YOLACT's keys, counts and test transform; its own video mapper,
converter, exporter and streaming inference)."""

from ..spec import ArchSpec, register_spec
from ..yolact.mapper import build_yolact_test_augmentation
from ..yolact.spec import SPEC as YOLACT_SPEC
from . import convert  # noqa: F401  (registers the converter named below)
from .config import add_yolact_edge_config
from .export import export_yolact_edge
from .mapper import YolactEdgeVideoMapper

SPEC = register_spec(
    ArchSpec(
        meta_arch="YolactEdge",
        package="yolact_edge",
        config_dir="YolactEdge",
        project="YolactEdge",
        add_config=add_yolact_edge_config,
        counts=YOLACT_SPEC.counts,
        mappers=(YolactEdgeVideoMapper,),
        test_augmentation=build_yolact_test_augmentation,
        converters=("yolact_edge",),
        exporter=export_yolact_edge,
        streaming=True,
    )
)
