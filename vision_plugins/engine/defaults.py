"""Config set-up shared by the tools: project keys, config lookup, CPU fallback, dataset checks."""

import functools
import json
import logging
import os

import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog

from ..config import add_vision_plugins_config
from ..model_zoo import get_config_file
from ..spec import cfg_value, spec_for

__all__ = [
    "default_cfg",
    "setup_cfg",
    "resolve_config_file",
    "check_datasets",
    "check_dataset_names",
    "check_num_classes",
    "dataset_counts",
]

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


@functools.lru_cache(maxsize=16)
def _json_categories(path, mtime):
    with open(path) as f:
        return json.load(f).get("categories") or []


def dataset_counts(name, field):
    """``field`` (``thing_classes``, ``stuff_classes`` or ``keypoint_names``) of the registered
    dataset ``name``: its metadata, else -- for a dataset registered with detectron2's
    ``register_coco_instances``, whose metadata is filled only when its json is loaded -- read
    from the ``categories`` of its ``json_file`` (thing classes sorted by id, as detectron2's
    loader orders them; keypoint names of the category that has them). None when unknown."""
    meta = MetadataCatalog.get(name)
    value = meta.get(field)
    if value is not None:
        return list(value)
    json_file = meta.get("json_file")
    if field == "stuff_classes" or not json_file or not os.path.isfile(json_file):
        return None
    try:
        categories = _json_categories(json_file, os.path.getmtime(json_file))
    except (OSError, ValueError) as e:
        raise ValueError(f"dataset {name!r}: cannot read the categories of {json_file}: {e}")
    if field == "thing_classes":
        return [c["name"] for c in sorted(categories, key=lambda c: c["id"])] or None
    keypoints = [c["keypoints"] for c in categories if c.get("keypoints")]
    return list(keypoints[0]) if len(keypoints) == 1 else None


def check_num_classes(cfg):
    """The class and keypoint counts of the architecture's spec (``ArchSpec.counts``, e.g.
    ``MODEL.YOLACT.NUM_CLASSES`` vs ``thing_classes``, ``NUM_KEYPOINTS`` vs ``keypoint_names``)
    equal those of every training set; otherwise a ValueError naming the key, its value and the
    dataset."""
    spec = spec_for(cfg)
    for check in spec.counts if spec else ():
        if check.when is not None and not cfg_value(cfg, check.when):
            continue
        value = cfg_value(cfg, check.key)
        for name in cfg.DATASETS.get("TRAIN", ()):
            names = dataset_counts(name, check.field)
            if names is not None and len(names) != value:
                raise ValueError(
                    f"{check.key}={value} but the training set {name!r} has {len(names)} "
                    f"{check.field} {names}: set {check.key} {len(names)}"
                )
