"""Every name vision_plugins registers resolves, and none clashes with detectron2, DensePose or
CenterNet2 (whose registered names are listed here: those projects are not installed)."""

from detectron2.modeling import (
    BACKBONE_REGISTRY,
    META_ARCH_REGISTRY,
    PROPOSAL_GENERATOR_REGISTRY,
    ROI_HEADS_REGISTRY,
    SEM_SEG_HEADS_REGISTRY,
)
from detectron2.modeling.anchor_generator import ANCHOR_GENERATOR_REGISTRY
from detectron2.modeling.roi_heads import (
    ROI_BOX_HEAD_REGISTRY,
    ROI_KEYPOINT_HEAD_REGISTRY,
    ROI_MASK_HEAD_REGISTRY,
)

import vision_plugins
from vision_plugins.checkpoint import CONVERTERS
from vision_plugins.data import MAPPER_REGISTRY
from vision_plugins.evaluation import EVALUATOR_REGISTRY

REGISTRIES = [
    META_ARCH_REGISTRY,
    BACKBONE_REGISTRY,
    PROPOSAL_GENERATOR_REGISTRY,
    ROI_HEADS_REGISTRY,
    SEM_SEG_HEADS_REGISTRY,
    ANCHOR_GENERATOR_REGISTRY,
    ROI_BOX_HEAD_REGISTRY,
    ROI_MASK_HEAD_REGISTRY,
    ROI_KEYPOINT_HEAD_REGISTRY,
]
# Names registered by detectron2's DensePose and CenterNet2 projects.
EXTERNAL_NAMES = {
    "DensePoseROIHeads",
    "DensePoseV1ConvXHead",
    "DensePoseDeepLabHead",
    "DensePoseChartPredictor",
    "DensePoseChartWithConfidencePredictor",
    "DensePoseEmbeddingPredictor",
    "build_hrfpn_backbone",
    "CenterNet",
    "CustomRCNN",
    "CustomROIHeads",
    "CustomCascadeROIHeads",
    "build_p67_resnet_fpn_backbone",
    "build_p35_resnet_fpn_backbone",
    "build_res2net_fpn_backbone",
    "build_dla_backbone",
    "build_dla_fpn3_backbone",
    "build_bifpn_backbone",
}


def _ours():
    """(registry, name, object) registered by vision_plugins (detectron2 itself refuses a name
    registered twice in one registry, so a clash with detectron2 fails at import)."""
    out = []
    for reg in REGISTRIES:
        for name, obj in reg:
            if getattr(obj, "__module__", "").startswith("vision_plugins"):
                out.append((reg, name, obj))
    return out


def test_our_names_resolve_and_do_not_clash():
    for reg, name, obj in _ours():
        assert reg.get(name) is obj
        assert name not in EXTERNAL_NAMES, f"{name} clashes with DensePose/CenterNet2"


def test_project_registries():
    assert vision_plugins.__version__
    assert MAPPER_REGISTRY.get("DatasetMapper").__name__ == "DatasetMapper"
    assert {"coco", "coco_panoptic_seg", "sem_seg"} <= set(EVALUATOR_REGISTRY)
    assert "torchvision_resnet" in CONVERTERS
