"""COCO-panoptic datasets: loader, metadata, semantic labels (the mapper of the panoptic models
is ``vision_plugins.upsnet.mapper.PanopticMapper``).

Contiguous ids: things ``0..T-1`` (what the instance head predicts, so ``COCOEvaluator`` works)
and stuff ``0..S-1``; the **semantic** label space puts stuff first: stuff ``s`` -> ``s``, thing
``t`` -> ``S + t``, void -> ``ignore_label`` (255). ``stuff_classes`` in the metadata lists the
semantic classes in that order (stuff names, then thing names), as ``SemSegEvaluator`` and
detectron2's ``Visualizer`` expect. Crowd regions keep their class in the semantic map.
"""

import json
import os
from typing import Callable, List, Optional

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import detection_utils as utils

__all__ = [
    "IGNORE_LABEL",
    "panoptic_metadata",
    "load_panoptic_json",
    "register_panoptic_dataset",
    "register_builtin_panoptic",
    "read_panoptic_ids",
    "semantic_from_panoptic",
]

IGNORE_LABEL = 255


def panoptic_metadata(categories: List[dict]) -> dict:
    """Metadata from COCO-panoptic ``categories`` (each with ``id``, ``name``, ``isthing``)."""
    for c in categories:
        missing = {"id", "name", "isthing"} - set(c)
        if missing:
            raise ValueError(f"panoptic category {c} lacks {sorted(missing)}")
    things = [c for c in categories if c["isthing"]]
    stuff = [c for c in categories if not c["isthing"]]
    if len(stuff) + len(things) >= IGNORE_LABEL:
        raise ValueError(f"{len(categories)} categories do not fit below ignore label 255")

    def color(c):
        return list(c.get("color", [(37 * c["id"]) % 256, (97 * c["id"]) % 256, 180]))

    return {
        "thing_classes": [c["name"] for c in things],
        "thing_colors": [color(c) for c in things],
        "stuff_classes": [c["name"] for c in stuff] + [c["name"] for c in things],
        "stuff_colors": [color(c) for c in stuff] + [color(c) for c in things],
        "thing_dataset_id_to_contiguous_id": {c["id"]: i for i, c in enumerate(things)},
        "stuff_dataset_id_to_contiguous_id": {c["id"]: i for i, c in enumerate(stuff)},
        "num_stuff": len(stuff),
        "ignore_label": IGNORE_LABEL,
    }


def read_json(path: str) -> dict:
    """A json file; unreadable or malformed files raise ValueError naming the path."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read panoptic json {path!r}: {e}") from e


def load_panoptic_json(
    panoptic_json: str,
    image_root: str,
    panoptic_root: str,
    dataset_name: Optional[str] = None,
    image_path: Callable[[str, str], str] = os.path.join,
) -> List[dict]:
    """Dataset dicts of a COCO-panoptic json: ``file_name``, ``image_id``, ``height``, ``width``,
    ``pan_seg_file_name`` and ``segments_info`` (``id``, contiguous ``category_id``, ``isthing``,
    ``iscrowd``, ``bbox``, ``area``). Image files are ``image_path(image_root, file_name)`` of the
    ``images`` entries of the json (any extension). Sets the metadata of ``dataset_name`` when
    given.
    """
    data = read_json(panoptic_json)
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise ValueError(f"panoptic json {panoptic_json!r} has no {key!r} list")
    meta = panoptic_metadata(data["categories"])
    if dataset_name is not None:
        MetadataCatalog.get(dataset_name).set(
            **{
                k: v
                for k, v in meta.items()
                if k not in MetadataCatalog.get(dataset_name).as_dict()
            }
        )
    thing_ids, stuff_ids = (
        meta["thing_dataset_id_to_contiguous_id"],
        meta["stuff_dataset_id_to_contiguous_id"],
    )
    images = {img["id"]: img for img in data["images"]}
    dicts = []
    for ann in data["annotations"]:
        img = images.get(ann["image_id"])
        if img is None:
            raise ValueError(
                f"{panoptic_json}: annotation {ann['file_name']!r} names image_id "
                f"{ann['image_id']} that is not in 'images'"
            )
        segments = []
        for seg in ann["segments_info"]:
            cat = seg["category_id"]
            if cat not in thing_ids and cat not in stuff_ids:
                raise ValueError(
                    f"{panoptic_json}: segment {seg['id']} of {ann['file_name']!r} has "
                    f"category_id {cat}, which is not in 'categories'"
                )
            isthing = cat in thing_ids
            segments.append(
                {
                    **seg,
                    "category_id": thing_ids[cat] if isthing else stuff_ids[cat],
                    "isthing": isthing,
                    "iscrowd": int(seg.get("iscrowd", 0)),
                }
            )
        dicts.append(
            {
                "file_name": image_path(image_root, img["file_name"]),
                "image_id": img["id"],
                "height": img["height"],
                "width": img["width"],
                "pan_seg_file_name": os.path.join(panoptic_root, ann["file_name"]),
                "segments_info": segments,
            }
        )
    return dicts


def register_panoptic_dataset(
    name: str,
    image_root: str,
    panoptic_root: str,
    panoptic_json: str,
    instances_json: Optional[str] = None,
    evaluator_type: str = "coco_panoptic_seg",
    image_path: Callable[[str, str], str] = os.path.join,
) -> None:
    """Register a COCO-panoptic split (COCO, Cityscapes converted by cityscapesscripts, ...).

    ``instances_json`` (COCO instances of the same images) enables box / mask AP through
    ``COCOEvaluator``. The categories are read from ``panoptic_json`` when the split is loaded.
    """
    DatasetCatalog.register(
        name,
        lambda: load_panoptic_json(panoptic_json, image_root, panoptic_root, name, image_path),
    )
    extra = {"json_file": instances_json} if instances_json else {}
    MetadataCatalog.get(name).set(
        image_root=image_root,
        panoptic_root=panoptic_root,
        panoptic_json=panoptic_json,
        evaluator_type=evaluator_type,
        ignore_label=IGNORE_LABEL,
        **extra,
    )


def _cityscapes_image(image_root: str, file_name: str) -> str:
    return os.path.join(image_root, file_name.split("_")[0], file_name)  # <root>/<city>/<file>


def register_builtin_panoptic(root: Optional[str] = None) -> None:
    """``coco_2017_{train,val}_upsnet`` (``coco/{train,val}2017``, ``coco/panoptic_{split}2017``,
    ``coco/annotations/{panoptic,instances}_{split}2017.json``) and
    ``cityscapes_fine_{train,val}_upsnet`` (``cityscapes/leftImg8bit/{split}/<city>/``,
    ``cityscapes/gtFine/cityscapes_panoptic_{split}{.json,/}`` as written by cityscapesscripts'
    ``createPanopticImgs``) under ``root`` (default ``$DETECTRON2_DATASETS`` or ``datasets``);
    nothing is read until a split is used."""
    root = root or os.environ.get("DETECTRON2_DATASETS", "datasets")
    for split in ("train", "val"):
        coco = os.path.join(root, "coco")
        register_panoptic_dataset(
            f"coco_2017_{split}_upsnet",
            os.path.join(coco, f"{split}2017"),
            os.path.join(coco, f"panoptic_{split}2017"),
            os.path.join(coco, "annotations", f"panoptic_{split}2017.json"),
            os.path.join(coco, "annotations", f"instances_{split}2017.json"),
        )
        gt = os.path.join(root, "cityscapes", "gtFine")
        register_panoptic_dataset(
            f"cityscapes_fine_{split}_upsnet",
            os.path.join(root, "cityscapes", "leftImg8bit", split),
            os.path.join(gt, f"cityscapes_panoptic_{split}"),
            os.path.join(gt, f"cityscapes_panoptic_{split}.json"),
            image_path=_cityscapes_image,
        )


def read_panoptic_ids(path: str) -> np.ndarray:
    """Segment-id map (int64 H×W, ``R + 256 G + 256² B``) of a COCO-panoptic PNG."""
    from panopticapi.utils import rgb2id  # imported here: only panoptic data needs panopticapi

    return rgb2id(utils.read_image(path, format="RGB")).astype(np.int64)


def semantic_from_panoptic(ids: np.ndarray, segments_info: List[dict], num_stuff: int):
    """Semantic map (uint8) in the stuff-first label space; unlabelled ids -> 255."""
    sem = np.full(ids.shape, IGNORE_LABEL, np.uint8)
    for seg in segments_info:
        label = seg["category_id"] + (num_stuff if seg["isthing"] else 0)
        sem[ids == seg["id"]] = label
    return sem
