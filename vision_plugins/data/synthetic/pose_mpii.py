"""``vp_pose_mpii``: single-person pose samples in the MPII json format (16 joints + head box).

Each 160×160 image holds one front-facing stick figure (the ``vp_people`` figure, so the person's
left is on the image right) and, in ~30 % of images, an occluding rectangle; occluded joints stay
annotated (as in MPII), joints outside the image are not (``joints_vis`` 0, coordinates −1).
``center`` is the centre of the extent of the joints and head box, ``scale`` the larger side of
that extent / 200 (MPII's units: the 200·scale square around the centre holds the person);
the head box is the head ellipse's bounding box. Loaded by
:func:`vision_plugins.data.mpii.load_mpii_json` and evaluated with PCKh.
"""

import json
import os

import cv2
import numpy as np

from ..mpii import (
    MPII_KEYPOINT_CONNECTION_RULES,
    MPII_KEYPOINT_FLIP_MAP,
    MPII_KEYPOINT_NAMES,
    load_mpii_json,
)
from .common import Layers, SyntheticSpec, image_rng, paint, smooth_background
from .people import _K, SIZE, _crop, _figure

__all__ = ["POSE_MPII_SPEC", "mpii_joints", "mpii_entry", "write_mpii_split", "MPII_METADATA"]


def mpii_joints(kp, head):
    """(16, 2) MPII joints from a figure's 17 COCO keypoints and its head geometry."""
    joints = np.zeros((len(MPII_KEYPOINT_NAMES), 2))
    for j, name in enumerate(MPII_KEYPOINT_NAMES):
        if name in _K:
            joints[j] = kp[_K[name]]
    index = {n: j for j, n in enumerate(MPII_KEYPOINT_NAMES)}
    joints[index["pelvis"]] = (kp[_K["left_hip"]] + kp[_K["right_hip"]]) / 2
    joints[index["thorax"]] = (kp[_K["left_shoulder"]] + kp[_K["right_shoulder"]]) / 2
    joints[index["upper_neck"]] = head["neck"]
    joints[index["head_top"]] = head["top"]
    return joints


def _render(rng: np.random.Generator, index: int):
    image = smooth_background(rng, SIZE, SIZE)
    layers = Layers(min_fraction=0.6)
    while True:  # a figure mostly inside the image (try_add bounds the part outside)
        parts, kp, _, head = _figure(rng, [])
        full = np.logical_or.reduce([mask for mask, _ in parts])
        if layers.try_add(_crop(full), 1, full_area=full.sum()):
            break
    for mask, color in parts:
        paint(image, _crop(mask), color, rng, noise=4.0)
    joints = mpii_joints(kp, head)
    if rng.random() < 0.3:
        center = joints[rng.integers(len(joints))] + rng.normal(0, 6, size=2)
        x0, y0 = np.clip(np.rint(center - rng.uniform(5, 16, size=2)), 0, SIZE).astype(int)
        x1, y1 = np.clip(np.rint(center + rng.uniform(5, 16, size=2)), 0, SIZE).astype(int)
        rect = np.zeros((SIZE, SIZE), bool)
        rect[y0:y1, x0:x1] = True
        paint(image, rect, rng.uniform(40, 220) + rng.uniform(-10, 10, size=3), rng, noise=4.0)
    inside = (joints >= 0).all(1) & (joints < SIZE).all(1)
    extent = np.concatenate([joints, np.reshape(head["box"], (2, 2))])
    lo, hi = extent.min(0), extent.max(0)
    entry = mpii_entry(joints, inside, head["box"], (lo + hi) / 2, (hi - lo).max() / 200, SIZE)
    return image, entry


def mpii_entry(joints, annotated, head_box, center, scale, size, visible=None) -> dict:
    """One MPII json person entry (without ``image``) of a ``size``² image.

    Joints not ``annotated`` get ``joints_vis`` 0 and coordinates −1; ``visible`` (optional,
    MPII's per-joint ``is_visible``) flags the annotated joints that are not occluded.
    """
    entry = {
        "joints": [
            [float(x), float(y)] if v else [-1.0, -1.0] for (x, y), v in zip(joints, annotated)
        ],
        "joints_vis": [int(v) for v in annotated],
        "center": [float(v) for v in center],
        "scale": float(scale),
        "head_box": [float(v) for v in head_box],
        "height": size,
        "width": size,
    }
    if visible is not None:
        entry["is_visible"] = [int(bool(v) and bool(a)) for v, a in zip(visible, annotated)]
    return entry


def write_mpii_split(out_dir: str, num_images: int, seed: int, render) -> None:
    """Write ``images/*.png`` + an MPII ``annotations.json`` from ``render(rng, index) ->
    (bgr image, person entry)``."""
    os.makedirs(os.path.join(out_dir, "images"))
    entries = []
    for index in range(num_images):
        image, entry = render(image_rng(seed, index), index)
        entry["image"] = f"{index:06d}.png"
        if not cv2.imwrite(os.path.join(out_dir, "images", entry["image"]), image):
            raise OSError(f"Could not write {entry['image']} to {out_dir}")
        entries.append(entry)
    with open(os.path.join(out_dir, "annotations.json"), "w") as f:
        json.dump(entries, f, sort_keys=True, separators=(",", ":"))


def generate_split(out_dir: str, num_images: int, seed: int) -> None:
    """Write one ``vp_pose_mpii`` split (``images/*.png``, ``annotations.json``) to ``out_dir``."""
    write_mpii_split(out_dir, num_images, seed, _render)


MPII_METADATA = {
    "thing_classes": ["person"],
    "keypoint_names": list(MPII_KEYPOINT_NAMES),
    "keypoint_flip_map": list(MPII_KEYPOINT_FLIP_MAP),
    "keypoint_connection_rules": list(MPII_KEYPOINT_CONNECTION_RULES),
}


def load_mpii_split(json_file: str, image_root: str, name: str):
    """The spec's loader: :func:`load_mpii_json`."""
    return load_mpii_json(json_file, image_root)


POSE_MPII_SPEC = SyntheticSpec(
    prefix="vp_pose_mpii",
    version=1,
    splits={"train": 300, "val": 60},
    generate=generate_split,
    metadata=MPII_METADATA,
    load=load_mpii_split,
    evaluator_type="pckh",
)
