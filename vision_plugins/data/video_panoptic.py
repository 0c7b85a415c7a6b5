"""Video panoptic datasets (Cityscapes-VPS layout): loader, flow files, samplers.

A split is

- ``image_json``: every raw frame, ``{"images": [{"id", "file_name", "height", "width"[,
  "video_id", "frame_id"]}]}`` (Cityscapes-VPS ``im_all_info_*.json``: ``id = video * 10000 +
  frame``, used when ``video_id`` / ``frame_id`` are absent);
- ``panoptic_json``: COCO-panoptic annotations of the annotated frames (every 5th raw frame in
  Cityscapes-VPS) with ``categories``; a segment id names the same object in every frame of its
  video (track-consistent ids), so a thing's id is its track id;
- ``png_root`` with the COCO-panoptic PNGs, ``image_root`` with the frames;
- optionally ``flow_root`` with precomputed flow (:func:`flow_file_name`, KITTI 16-bit PNG) for the
  ``Precomputed`` flow network.

:func:`load_video_panoptic` returns one dict per raw frame, sorted by video then frame, with
``video_id``, ``frame_id``, ``is_annotated`` and, for annotated frames, ``pan_seg_file_name`` and
``segments_info`` as :func:`~vision_plugins.data.panoptic.load_panoptic_json` gives them.
Training uses the annotated frames as targets, each paired with reference frames
(:func:`reference_candidates`); inference runs on whole videos in order
(:class:`VideoInferenceSampler`), so the dataset's evaluator sees each video from its first frame.
"""

import os
from collections import defaultdict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import transforms as T
from detectron2.utils import comm

from .panoptic import IGNORE_LABEL, load_panoptic_json, read_json

__all__ = [
    "frame_key",
    "load_video_panoptic",
    "register_video_panoptic",
    "register_builtin_video_panoptic",
    "flow_file_name",
    "read_flow_png",
    "write_flow_png",
    "reference_candidates",
    "VideoInferenceSampler",
    "transform_flow",
]

FRAME_ID_BASE = 10000  # Cityscapes-VPS image id = video * 10000 + frame


def frame_key(image_id, file_name: str = "") -> Tuple[int, int]:
    """``(video_id, frame_id)`` of a Cityscapes-VPS frame: an integer id is ``video * 10000 +
    frame`` (``im_all_info_*.json``); a string id (``panoptic_gt_*_city_vps.json``) or else the
    file name starts with ``VVVV_FFFF_``."""
    if isinstance(image_id, int):
        return divmod(image_id, FRAME_ID_BASE)
    for text in (str(image_id), os.path.basename(file_name)):
        parts = text.split("_")
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            return int(parts[0]), int(parts[1])
    raise ValueError(
        f"cannot tell the video and frame of image id {image_id!r} ({file_name!r}): expected "
        "'video_id' / 'frame_id' keys, an id video * 10000 + frame, or a name 'VVVV_FFFF_...'"
    )


def load_video_panoptic(
    image_json: str,
    panoptic_json: str,
    image_root: str,
    png_root: str,
    dataset_name: Optional[str] = None,
    flow_root: Optional[str] = None,
) -> List[dict]:
    """Per-frame dataset dicts of a video panoptic split (see the module docstring); frames
    and annotations are matched by ``(video_id, frame_id)`` (:func:`frame_key`), so the two
    jsons may use different id schemes, as Cityscapes-VPS's do."""
    frames = read_json(image_json).get("images")
    if not isinstance(frames, list):
        raise ValueError(f"video panoptic json {image_json!r} has no 'images' list")
    annotated = {}
    for d in load_panoptic_json(panoptic_json, image_root, png_root, dataset_name):
        annotated[frame_key(d["image_id"], d["pan_seg_file_name"])] = d
    dicts, seen = [], set()
    for img in frames:
        if "video_id" in img and "frame_id" in img:
            key = int(img["video_id"]), int(img["frame_id"])
        else:
            key = frame_key(img["id"], img["file_name"])
        if key in seen:
            raise ValueError(f"{image_json}: video {key[0]} has frame {key[1]} twice")
        seen.add(key)
        record = {
            "file_name": os.path.join(image_root, img["file_name"]),
            "image_id": img["id"],
            "height": img["height"],
            "width": img["width"],
            "video_id": key[0],
            "frame_id": key[1],
            "is_annotated": key in annotated,
        }
        if key in annotated:
            ann = annotated.pop(key)  # the panoptic json's id: COCOPanopticEvaluator's key
            record.update(
                image_id=ann["image_id"],
                pan_seg_file_name=ann["pan_seg_file_name"],
                segments_info=ann["segments_info"],
            )
        if flow_root is not None:
            record["flow_root"] = flow_root
        dicts.append(record)
    if annotated:
        missing = sorted(annotated)[:5]
        raise ValueError(
            f"{panoptic_json}: annotated (video, frame) {missing} have no frame in {image_json}"
        )
    dicts.sort(key=lambda d: (d["video_id"], d["frame_id"]))
    return dicts


def register_video_panoptic(
    name: str,
    image_json: str,
    panoptic_json: str,
    png_root: str,
    image_root: str,
    flow_root: Optional[str] = None,
    annotation_stride: int = 5,
) -> None:
    """Register a video panoptic split for ``VPQEvaluator`` (VPQ^k) and COCOPanopticEvaluator
    (image PQ of the annotated frames: ``panoptic_json`` / ``png_root``); ``annotation_stride``
    is the raw-frame distance of consecutive annotated frames (Cityscapes-VPS: 5)."""
    DatasetCatalog.register(
        name,
        lambda: load_video_panoptic(
            image_json, panoptic_json, image_root, png_root, name, flow_root
        ),
    )
    MetadataCatalog.get(name).set(
        image_root=image_root,
        panoptic_root=png_root,
        panoptic_json=panoptic_json,
        evaluator_type="video_panoptic",
        ignore_label=IGNORE_LABEL,
        annotation_stride=annotation_stride,
    )


def register_builtin_video_panoptic(root: Optional[str] = None) -> None:
    """``cityscapes_vps_{train,val}`` under ``root`` (default ``$DETECTRON2_DATASETS`` or
    ``datasets``), the official Cityscapes-VPS layout in ``cityscapes_vps/``: val =
    ``im_all_info_val_city_vps.json`` (all 30 frames per video, ``val/img_all/``) +
    ``panoptic_gt_val_city_vps.json`` / ``val/panoptic_video/``; train = the annotated frames of
    ``panoptic_gt_train_city_vps.json`` / ``train/panoptic_video/`` (made by the official
    ``create_panoptic_video_labels.py --mode train``), ``train/img/``. Nothing is read until a
    split is used."""
    base = os.path.join(root or os.environ.get("DETECTRON2_DATASETS", "datasets"), "cityscapes_vps")
    train_json = os.path.join(base, "panoptic_gt_train_city_vps.json")
    register_video_panoptic(
        "cityscapes_vps_train",
        train_json,
        train_json,
        os.path.join(base, "train", "panoptic_video"),
        os.path.join(base, "train", "img"),
    )
    register_video_panoptic(
        "cityscapes_vps_val",
        os.path.join(base, "im_all_info_val_city_vps.json"),
        os.path.join(base, "panoptic_gt_val_city_vps.json"),
        os.path.join(base, "val", "panoptic_video"),
        os.path.join(base, "val", "img_all"),
    )


# ---------------------------------------------------------------------------------------------
# Precomputed flow: KITTI 16-bit PNG (R = u * 64 + 2^15, G = v * 64 + 2^15, B = valid)


def flow_file_name(flow_root: str, video_id: int, frame_id: int, ref_frame_id: int) -> str:
    """Flow from frame ``frame_id`` to ``ref_frame_id`` of a video: for each target pixel, the
    displacement (u, v) in pixels to the matching reference pixel."""
    return os.path.join(flow_root, f"{video_id:04d}_{frame_id:04d}_{ref_frame_id:04d}.png")


def write_flow_png(path: str, flow: np.ndarray) -> None:
    """Write an H×W×2 flow (|value| < 512 px, 1/64 px resolution) as a KITTI flow PNG."""
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow for {path} must be H×W×2, got {flow.shape}")
    if np.abs(flow).max(initial=0) >= 511:
        raise ValueError(f"flow for {path} exceeds the KITTI PNG range (|value| < 511 px)")
    q = np.rint(flow * 64 + 2**15).astype(np.uint16)
    bgr = np.stack([np.ones_like(q[..., 0]), q[..., 1], q[..., 0]], axis=-1)
    if not cv2.imwrite(path, bgr):
        raise OSError(f"could not write {path}")


def read_flow_png(path: str) -> np.ndarray:
    """H×W×2 float32 flow of a KITTI flow PNG; invalid pixels (B = 0) get zero flow."""
    bgr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if bgr is None or bgr.ndim != 3 or bgr.dtype != np.uint16:
        raise ValueError(f"{path} is not a 16-bit 3-channel KITTI flow PNG")
    flow = (bgr[..., [2, 1]].astype(np.float32) - 2**15) / 64
    flow[bgr[..., 0] == 0] = 0
    return flow


# ---------------------------------------------------------------------------------------------
# Reference frames and samplers


def reference_candidates(
    dicts: Sequence[dict], offsets: Sequence[int], annotated_only: bool
) -> List[dict]:
    """Training samples: each annotated frame with ``"references"``, the frames of its video at
    the raw-frame ``offsets`` (annotated ones only when ``annotated_only``, for the track head's
    targets); a frame without any gets itself, as VPSNet does at the first frame of a video."""
    frames = {(d["video_id"], d["frame_id"]): d for d in dicts}
    samples = []
    for d in dicts:
        if not d["is_annotated"]:
            continue
        refs = [frames.get((d["video_id"], d["frame_id"] + o)) for o in offsets]
        refs = [r for r in refs if r is not None and (r["is_annotated"] or not annotated_only)]
        samples.append({**d, "references": refs or [d]})
    return samples


def video_order(dicts: Iterable[dict]) -> Dict[int, List[int]]:
    """``{video_id: dataset indices}``; raises unless each video's frames are consecutive and in
    increasing frame order (the order :func:`load_video_panoptic` returns)."""
    videos: Dict[int, List[int]] = defaultdict(list)
    last = None
    for i, d in enumerate(dicts):
        if "video_id" not in d or "frame_id" not in d:
            raise KeyError(f"dataset dict {i} ({d.get('file_name')}) has no video_id / frame_id")
        key = d["video_id"]
        if videos[key] and (last != key or d["frame_id"] <= dicts[videos[key][-1]]["frame_id"]):
            raise ValueError(
                f"frames of video {key} are not consecutive and in frame order at dataset index "
                f"{i} ({d.get('file_name')})"
            )
        videos[key].append(i)
        last = key
    return dict(videos)


class VideoInferenceSampler(torch.utils.data.Sampler):
    """Inference order over whole videos: each process gets whole videos (balanced by frame
    count), every video from its first frame to its last, so a model that carries state from
    frame to frame (VPSNet's fusion and tracking) and a streaming evaluator (VPQ) see complete
    videos."""

    def __init__(self, dicts: Sequence[dict]):
        videos = sorted(video_order(dicts).values(), key=len, reverse=True)
        world, rank = comm.get_world_size(), comm.get_rank()
        loads, mine = [0] * world, []
        for indices in videos:  # greedy: the next longest video to the least loaded process
            target = loads.index(min(loads))
            loads[target] += len(indices)
            if target == rank:
                mine.append(indices)
        self._indices = [i for indices in sorted(mine) for i in indices]

    def __iter__(self):
        yield from self._indices

    def __len__(self):
        return len(self._indices)


def transform_flow(flow: np.ndarray, transforms: T.TransformList) -> np.ndarray:
    """Apply the geometric ``transforms`` of an image to its H×W×2 flow (pixel units): resizes
    rescale the vectors, horizontal flips negate u, crops crop."""
    for t in transforms.transforms:
        if isinstance(t, T.NoOpTransform):
            continue
        if isinstance(t, T.HFlipTransform):
            flow = flow[:, ::-1] * np.array([-1, 1], np.float32)
        elif isinstance(t, T.ResizeTransform):
            flow = cv2.resize(flow, (t.new_w, t.new_h), interpolation=cv2.INTER_LINEAR)
            flow = flow * np.array([t.new_w / t.w, t.new_h / t.h], np.float32)
        elif isinstance(t, T.CropTransform):
            flow = flow[t.y0 : t.y0 + t.h, t.x0 : t.x0 + t.w]
        else:
            raise ValueError(
                f"{type(t).__name__} cannot be applied to optical flow: use resizes, crops and "
                "horizontal flips with precomputed flow"
            )
    return np.ascontiguousarray(flow, dtype=np.float32)
