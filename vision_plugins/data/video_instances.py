"""Video instance segmentation datasets (YolactEdge): YouTube-VIS jsons and the synthetic
``vp_video_instances_*`` made from ``vp_video_panoptic``.

Every loader returns one detectron2 dict per frame, ordered by video then frame (the order
:func:`~vision_plugins.data.video_panoptic.video_order` and ``VideoInferenceSampler`` need), with

- ``file_name``, ``height``, ``width``, ``image_id`` (an int, unique in the split),
- ``video_id``, ``frame_id`` (1-based position of the frame in its video),
- ``is_annotated``: whether the frame has ground truth (the evaluator scores only these),
- ``annotations``: the objects visible in the frame (``[]`` on unannotated frames), each with
  ``bbox`` (``XYWH_ABS``), ``bbox_mode``, ``segmentation`` (always a compressed COCO RLE dict with
  ``str`` counts: use ``INPUT.MASK_FORMAT bitmask``), contiguous ``category_id``, ``iscrowd`` and
  ``track_id`` (the same object has the same ``track_id`` in every frame of its video).

Frames are images, so detectron2's ``DatasetMapper`` and ``convert_to_coco_dict`` work on them
unchanged; ``evaluator_type="video_instances"`` selects
:class:`~vision_plugins.evaluation.video_instances.VideoInstanceEvaluator` (per-frame COCO AP).
"""

import functools
import os
from typing import Dict, List, Mapping, Optional

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from pycocotools import mask as mask_util

from .panoptic import read_json, read_panoptic_ids
from .video_panoptic import FRAME_ID_BASE

__all__ = [
    "load_youtube_vis_json",
    "register_youtube_vis",
    "register_builtin_youtube_vis",
    "video_panoptic_to_instances",
    "register_synthetic_video_instances",
    "SYNTHETIC_VIDEO_INSTANCES",
]

EVALUATOR_TYPE = "video_instances"

# synthetic video instance split -> the synthetic video panoptic split it is made from
SYNTHETIC_VIDEO_INSTANCES = {
    "vp_video_instances_train": "vp_video_panoptic_train",
    "vp_video_instances_val": "vp_video_panoptic_val",
}

# (dataset name, directory under the datasets root, json, image directory)
_BUILTIN_YOUTUBE_VIS = [
    (f"ytvis_{year}_{split}_vp", f"ytvis_{year}", f"{split}.json", f"{split}/JPEGImages")
    for year in (2019, 2021)
    for split in ("train", "valid")
]


def _rle(mask: np.ndarray) -> dict:
    """Compressed RLE of a binary mask, ``counts`` as str."""
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _rle_bbox(rle: dict) -> List[float]:
    return [float(v) for v in mask_util.toBbox(rle)]


# ---------------------------------------------------------------------------------------------
# YouTube-VIS


def _require(entry: Mapping, keys, where: str) -> None:
    missing = [k for k in keys if k not in entry]
    if missing:
        raise ValueError(f"{where} lacks key(s) {missing}")


def _frame_rle(seg, height: int, width: int, where: str) -> dict:
    """Compressed RLE (str counts) of one per-frame YouTube-VIS segmentation: an RLE with
    uncompressed (list) or compressed (str) counts, or a list of polygons."""
    if isinstance(seg, dict):
        _require(seg, ("size", "counts"), where)
        if list(seg["size"]) != [height, width]:
            raise ValueError(
                f"{where}: RLE size {list(seg['size'])} is not the video's [height, width] "
                f"{[height, width]}"
            )
        counts = seg["counts"]
        if isinstance(counts, list):  # uncompressed RLE
            rle = mask_util.frPyObjects(seg, height, width)
        elif isinstance(counts, (str, bytes)):
            rle = {"size": [height, width], "counts": counts}
        else:
            raise ValueError(f"{where}: RLE counts must be a list or a string")
    elif isinstance(seg, list):
        if not seg or not all(isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0 for p in seg):
            raise ValueError(
                f"{where}: a polygon segmentation must be a list of [x1, y1, x2, y2, ...] lists "
                "of at least 3 points"
            )
        rle = mask_util.merge(mask_util.frPyObjects(seg, height, width))
    else:
        raise ValueError(
            f"{where}: segmentation must be an RLE dict, a list of polygons or null, got "
            f"{type(seg).__name__}"
        )
    counts = rle["counts"]
    return {
        "size": [height, width],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
    }


def _youtube_vis_categories(data: dict, json_file: str, dataset_name: Optional[str]) -> Dict:
    """``thing_dataset_id_to_contiguous_id``: the metadata's if set, else from the json's
    ``categories`` sorted by id (then also set on the metadata with ``thing_classes``)."""
    meta = MetadataCatalog.get(dataset_name) if dataset_name is not None else None
    if meta is not None and meta.get("thing_dataset_id_to_contiguous_id") is not None:
        return dict(meta.thing_dataset_id_to_contiguous_id)
    categories = data.get("categories")
    if not isinstance(categories, list) or not categories:
        raise ValueError(
            f"{json_file}: no 'categories' list, and the metadata gives no "
            "thing_dataset_id_to_contiguous_id"
        )
    for i, c in enumerate(categories):
        _require(c, ("id", "name"), f"{json_file}: categories[{i}]")
    categories = sorted(categories, key=lambda c: c["id"])
    id_map = {c["id"]: i for i, c in enumerate(categories)}
    if meta is not None:
        own = meta.as_dict()
        values = {
            "thing_classes": [c["name"] for c in categories],
            "thing_dataset_id_to_contiguous_id": id_map,
        }
        meta.set(**{k: v for k, v in values.items() if k not in own})
    return id_map


def load_youtube_vis_json(
    json_file: str, image_root: str, dataset_name: Optional[str] = None
) -> List[dict]:
    """Per-frame dataset dicts (see the module docstring) of a YouTube-VIS 2019 / 2021 json.

    The json has ``videos`` (``id``, ``file_names``: frame paths relative to ``image_root``,
    ``height``, ``width``, optional ``length``), ``categories`` (``id``, ``name``) and, in the
    train split, ``annotations`` (``id``, ``video_id``, ``category_id``, ``iscrowd``, per-frame
    ``segmentations`` and optional per-frame ``bboxes``, ``null`` where the object is not in the
    frame). Frames of a json with an ``annotations`` list are ``is_annotated``; those of a json
    without (valid / test) are not.

    ``image_id = video_id * 10000 + frame_id`` (as Cityscapes-VPS's ids); ``track_id`` is the
    annotation id; ``category_id`` is contiguous through the metadata's
    ``thing_dataset_id_to_contiguous_id`` (taken from the json's ``categories`` sorted by id and
    set on ``dataset_name``'s metadata when absent). A per-frame ``bbox`` that is null is the
    tight box of the mask; an object whose mask is empty in a frame is not in that frame.
    Malformed input raises ValueError naming the file and the offending entry.
    """
    data = read_json(json_file)
    videos = data.get("videos")
    if not isinstance(videos, list):
        raise ValueError(f"{json_file}: no 'videos' list (not a YouTube-VIS json?)")
    annotations = data.get("annotations")
    is_annotated = annotations is not None
    if is_annotated and not isinstance(annotations, list):
        raise ValueError(f"{json_file}: 'annotations' must be a list or null")
    id_map = _youtube_vis_categories(data, json_file, dataset_name)

    by_id = {}
    for i, video in enumerate(videos):
        _require(video, ("id", "file_names", "height", "width"), f"{json_file}: videos[{i}]")
        vid = video["id"]
        where = f"{json_file}: video {vid}"
        if vid in by_id:
            raise ValueError(f"{where} appears twice in 'videos'")
        if not isinstance(video["file_names"], list) or not video["file_names"]:
            raise ValueError(f"{where}: 'file_names' must be a non-empty list")
        n = len(video["file_names"])
        if "length" in video and video["length"] != n:
            raise ValueError(f"{where}: 'length' is {video['length']} but it has {n} file_names")
        if n >= FRAME_ID_BASE:
            raise ValueError(f"{where} has {n} frames; image ids allow < {FRAME_ID_BASE}")
        by_id[vid] = video

    objects: Dict = {vid: [[] for _ in video["file_names"]] for vid, video in by_id.items()}
    for i, ann in enumerate(annotations or []):
        _require(
            ann,
            ("id", "video_id", "category_id", "segmentations"),
            f"{json_file}: annotations[{i}]",
        )
        video = by_id.get(ann["video_id"])
        where = f"{json_file}: annotation {ann['id']} (video {ann['video_id']})"
        if video is None:
            raise ValueError(f"{where}: video_id {ann['video_id']} is not in 'videos'")
        if ann["category_id"] not in id_map:
            raise ValueError(
                f"{where}: category_id {ann['category_id']} is not in the categories "
                f"{sorted(id_map)}"
            )
        n = len(video["file_names"])
        segs, boxes = ann["segmentations"], ann.get("bboxes")
        if boxes is None:
            boxes = [None] * n
        for key, values in (("segmentations", segs), ("bboxes", boxes)):
            if not isinstance(values, list) or len(values) != n:
                length = len(values) if isinstance(values, list) else type(values).__name__
                raise ValueError(
                    f"{where}: '{key}' has {length} entries but the video has {n} frames"
                )
        h, w = int(video["height"]), int(video["width"])
        for f, (seg, box) in enumerate(zip(segs, boxes)):
            if seg is None:
                continue
            rle = _frame_rle(seg, h, w, f"{where}, frame {f + 1}")
            if int(mask_util.area(rle)) == 0:
                continue
            if box is None:
                box = _rle_bbox(rle)
            elif not isinstance(box, list) or len(box) != 4:
                raise ValueError(f"{where}, frame {f + 1}: bbox must be [x, y, w, h] or null")
            objects[video["id"]][f].append(
                {
                    "bbox": [float(v) for v in box],
                    "bbox_mode": BoxMode.XYWH_ABS,
                    "segmentation": rle,
                    "category_id": id_map[ann["category_id"]],
                    "iscrowd": int(ann.get("iscrowd", 0)),
                    "track_id": ann["id"],
                }
            )

    dicts = []
    for vid in sorted(by_id):
        video = by_id[vid]
        for f, file_name in enumerate(video["file_names"]):
            dicts.append(
                {
                    "file_name": os.path.join(image_root, file_name),
                    "height": int(video["height"]),
                    "width": int(video["width"]),
                    "image_id": vid * FRAME_ID_BASE + f + 1,
                    "video_id": vid,
                    "frame_id": f + 1,
                    "is_annotated": is_annotated,
                    "annotations": objects[vid][f],
                }
            )
    return dicts


def register_youtube_vis(name: str, metadata: dict, json_file: str, image_root: str) -> None:
    """Register a YouTube-VIS split (lazily: nothing is read until it is used); ``metadata``
    may give ``thing_classes`` / ``thing_dataset_id_to_contiguous_id``, else they come from the
    json's ``categories`` at load."""
    DatasetCatalog.register(name, lambda: load_youtube_vis_json(json_file, image_root, name))
    MetadataCatalog.get(name).set(
        json_file=json_file, image_root=image_root, evaluator_type=EVALUATOR_TYPE, **metadata
    )


def register_builtin_youtube_vis(root: Optional[str] = None) -> None:
    """``ytvis_{2019,2021}_{train,valid}_vp`` under ``root`` (default ``$DETECTRON2_DATASETS`` or
    ``datasets``) in the standard layout ``ytvis_2019/train.json`` + ``ytvis_2019/train/
    JPEGImages/``; the ``_vp`` suffix keeps the names apart from other projects' registrations.
    Nothing is read until a split is used."""
    root = root or os.environ.get("DETECTRON2_DATASETS", "datasets")
    for name, sub, json_name, images in _BUILTIN_YOUTUBE_VIS:
        if name in DatasetCatalog:
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        register_youtube_vis(
            name, {}, os.path.join(root, sub, json_name), os.path.join(root, sub, images)
        )


# ---------------------------------------------------------------------------------------------
# Video panoptic -> video instances


def video_panoptic_to_instances(dicts: List[dict], metadata) -> List[dict]:
    """Video instance dicts of video panoptic dicts (:func:`~vision_plugins.data.video_panoptic.
    load_video_panoptic`): the same frames and keys (``pan_seg_file_name`` / ``segments_info``
    replaced by ``annotations``). An annotated frame's ``annotations`` are its thing segments
    (crowd ones with ``iscrowd=1``), read from its panoptic PNG: the segment's mask as a
    compressed RLE, its tight box, ``category_id`` = the contiguous thing index of ``metadata``
    (the panoptic metadata: the same ``thing_classes`` order), ``track_id`` = the segment id
    (track-consistent in a video panoptic split). Unannotated frames get ``annotations=[]``."""
    meta = metadata.as_dict() if hasattr(metadata, "as_dict") else dict(metadata)
    num_things = len(meta["thing_classes"])
    out = []
    for d in dicts:
        record = {k: v for k, v in d.items() if k not in ("pan_seg_file_name", "segments_info")}
        record["annotations"] = []
        if d["is_annotated"]:
            things = [s for s in d["segments_info"] if s["isthing"]]
            ids = read_panoptic_ids(d["pan_seg_file_name"]) if things else None
            for seg in things:
                if not 0 <= seg["category_id"] < num_things:
                    raise ValueError(
                        f"{d['pan_seg_file_name']}: segment {seg['id']} has thing category "
                        f"{seg['category_id']}, but the metadata has {num_things} thing classes"
                    )
                mask = ids == seg["id"]
                if not mask.any():
                    continue
                rle = _rle(mask)
                record["annotations"].append(
                    {
                        "bbox": _rle_bbox(rle),
                        "bbox_mode": BoxMode.XYWH_ABS,
                        "segmentation": rle,
                        "category_id": seg["category_id"],
                        "iscrowd": int(seg.get("iscrowd", 0)),
                        "track_id": seg["id"],
                    }
                )
        out.append(record)
    return out


def _load_synthetic(panoptic_name: str) -> List[dict]:
    return video_panoptic_to_instances(
        DatasetCatalog.get(panoptic_name), MetadataCatalog.get(panoptic_name)
    )


def register_synthetic_video_instances() -> None:
    """Register ``vp_video_instances_{train,val}``: the generated ``vp_video_panoptic`` split of
    the same name as video instances (:func:`video_panoptic_to_instances`), no files of their
    own; loading one generates the panoptic split if needed. Call after the panoptic splits are
    registered (``register_all_synthetic`` does); idempotent."""
    keys = (
        "thing_classes",
        "thing_colors",
        "thing_dataset_id_to_contiguous_id",
        "image_root",
        "annotation_stride",
    )
    for name, panoptic_name in SYNTHETIC_VIDEO_INSTANCES.items():
        source = MetadataCatalog.get(panoptic_name)
        if name in DatasetCatalog:
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        DatasetCatalog.register(name, functools.partial(_load_synthetic, panoptic_name))
        MetadataCatalog.get(name).set(
            **{k: source.get(k) for k in keys if source.get(k) is not None},
            source_dataset=panoptic_name,
            evaluator_type=EVALUATOR_TYPE,
        )
