"""Config set-up shared by the tools: project keys, config lookup, CPU fallback, dataset checks."""

import logging
import os

import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog

from ..config import add_vision_plugins_config
from ..model_zoo import get_config_file

__all__ = [
    "default_cfg",
    "setup_cfg",
    "resolve_config_file",
    "check_datasets",
    "check_dataset_names",
    "check_num_classes",
    "NUM_CLASSES_KEYS",
]

# META_ARCHITECTURE -> the config key holding its number of classes (each architecture adds its
# own); check_datasets compares it with the training set's thing_classes.
NUM_CLASSES_KEYS = {
    "GeneralizedRCNN": "MODEL.ROI_HEADS.NUM_CLASSES",
    "YOLACT": "MODEL.YOLACT.NUM_CLASSES",
    "YolactEdge": "MODEL.YOLACT.NUM_CLASSES",
    "CenterNetOAP": "MODEL.CENTERNET_OAP.NUM_CLASSES",
    "UPSNet": "MODEL.ROI_HEADS.NUM_CLASSES",
    "VPSNet": "MODEL.ROI_HEADS.NUM_CLASSES",
}
# META_ARCHITECTURE -> the key holding its number of semantic classes, compared with the
# training set's stuff_classes (stuff-first semantic classes of vision_plugins' panoptic data).
SEMANTIC_CLASSES_KEYS = {
    "UPSNet": "MODEL.SEM_SEG_HEAD.NUM_CLASSES",
    "VPSNet": "MODEL.SEM_SEG_HEAD.NUM_CLASSES",
}

logger = logging.getLogger(__name__)


def default_cfg():
    """detectron2's defaults plus every vision_plugins key."""
    return add_vision_plugins_config(get_cfg())


def resolve_config_file(path):
    """A path on disk, else a config shipped with vision_plugins (``"Mask-RCNN/x.yaml"``)."""
    if os.path.isfile(path):
        return path
    rel = path[len("configs/") :] if path.startswith("configs/") else path
    try:
        return get_config_file(rel)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"config file not found: {path!r} (neither on disk nor shipped with vision_plugins)"
        ) from None


def setup_cfg(config_file=None, opts=(), freeze=True):
    """Build a cfg from a YAML and ``KEY VALUE`` overrides; CPU when CUDA is absent."""
    cfg = default_cfg()
    if config_file:
        cfg.merge_from_file(resolve_config_file(config_file))
    cfg.merge_from_list(list(opts))
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logger.info("CUDA is not available: running on CPU (MODEL.DEVICE=cpu)")
        cfg.MODEL.DEVICE = "cpu"
    if freeze:
        cfg.freeze()
    return cfg


def check_datasets(cfg):
    """The datasets of ``cfg`` are registered and NUM_CLASSES matches the training set."""
    check_dataset_names(cfg)
    check_num_classes(cfg)


def check_dataset_names(cfg):
    """Every dataset named in ``cfg.DATASETS`` is registered, else a KeyError listing them."""
    registered = set(DatasetCatalog.list())
    for field in ("TRAIN", "TEST"):
        for name in cfg.DATASETS.get(field, ()):
            if name not in registered:
                ours = sorted(n for n in registered if n.startswith("vp_"))
                raise KeyError(
                    f"DATASETS.{field} names {name!r}, which is not a registered dataset. "
                    f"vision_plugins' synthetic datasets: {', '.join(ours)}. "
                    f"({len(registered) - len(ours)} other names are registered; "
                    "see detectron2.data.DatasetCatalog.list())"
                )


def check_num_classes(cfg):
    """The architecture's NUM_CLASSES equals len(thing_classes) of every training set (and the
    semantic classes of panoptic models len(stuff_classes))."""
    arch = cfg.MODEL.META_ARCHITECTURE
    for keys, field in (
        (NUM_CLASSES_KEYS, "thing_classes"),
        (SEMANTIC_CLASSES_KEYS, "stuff_classes"),
    ):
        key = keys.get(arch)
        if key is None:
            continue
        num_classes = cfg
        for part in key.split("."):
            num_classes = num_classes[part]
        for name in cfg.DATASETS.get("TRAIN", ()):
            classes = MetadataCatalog.get(name).get(field)
            if classes is not None and len(classes) != num_classes:
                raise ValueError(
                    f"{key}={num_classes} but the training set {name!r} has {len(classes)} "
                    f"{field} {list(classes)}: set {key} {len(classes)}"
                )
