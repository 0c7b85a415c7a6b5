"""What UPSNet plugs in: the panoptic mapper, count checks of its thing and semantic classes,
and mIoU on COCO-panoptic sets (added to PQ and box / mask AP)."""

from detectron2.data import MetadataCatalog

from ..evaluation.panoptic import PanopticSemSegEvaluator
from ..spec import ArchSpec, CountCheck, register_spec
from .config import add_upsnet_config
from .mapper import PanopticMapper

PANOPTIC_COUNTS = (
    CountCheck("MODEL.ROI_HEADS.NUM_CLASSES", "thing_classes"),
    # stuff-first semantic classes (stuff, then things) of vision_plugins' panoptic data
    CountCheck("MODEL.SEM_SEG_HEAD.NUM_CLASSES", "stuff_classes"),
)


def semantic_evaluators(cfg, dataset_name, output_folder):
    """mIoU of the semantic head on a COCO-panoptic set whose stuff-first semantic classes are
    the head's classes (``register_panoptic_dataset`` data)."""
    meta = MetadataCatalog.get(dataset_name)
    if (
        meta.get("evaluator_type") == "coco_panoptic_seg"
        and "num_stuff" in meta.as_dict()
        and cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES == len(meta.stuff_classes)
    ):
        return [PanopticSemSegEvaluator(dataset_name, output_dir=output_folder)]
    return []


SPEC = register_spec(
    ArchSpec(
        meta_arch="UPSNet",
        package="upsnet",
        config_dir="UPSNet",
        project="UPSNet",
        add_config=add_upsnet_config,
        counts=PANOPTIC_COUNTS,
        mappers=(PanopticMapper,),
        evaluators=semantic_evaluators,
    )
)
