"""``vp_people``: 160x160 images of 1-2 front-facing stick figures with the 17 COCO keypoints.

A figure (70-140 px tall) has an elliptic head with eyes, nose and ears, a torso polygon and
thick-line limbs in random plausible poses. Figures face the viewer, so the person's left is on
the image right -- a mirror-consistent cue, which keeps horizontal flip + flip map learnable.
Keypoints covered by a later figure or by the occluding rectangle some images have get v=1,
those outside the image (0, 0, 0). Every 20th image (index 10 mod 20) is background only.
"""

from typing import Optional, Sequence

import cv2
import numpy as np
from detectron2.data.datasets.builtin_meta import (
    COCO_PERSON_KEYPOINT_FLIP_MAP,
    COCO_PERSON_KEYPOINT_NAMES,
    KEYPOINT_CONNECTION_RULES,
)

from .common import (
    Layers,
    SyntheticSpec,
    fill_polygon,
    paint,
    saturated_color,
    smooth_background,
    write_coco_split,
)

__all__ = ["PEOPLE_SPEC", "CATEGORIES"]

SIZE = 160
PAD = 96  # figures are drawn on a padded canvas so their full (unoccluded) area is known
# the official COCO person skeleton (1-based keypoint indices)
SKELETON = [
    [16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8],
    [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7],
]  # fmt: skip
CATEGORIES = [
    {
        "id": 1,
        "name": "person",
        "supercategory": "person",
        "keypoints": list(COCO_PERSON_KEYPOINT_NAMES),
        "skeleton": SKELETON,
    }
]
_K = {name: i for i, name in enumerate(COCO_PERSON_KEYPOINT_NAMES)}
# body geometry in units of the figure height; origin at the hip centre, y down, left = +x
_HEAD_H, _HEAD_W = 0.17, 0.13
_HEAD_CENTER = np.array([0.0, -0.52 + _HEAD_H / 2])
_TORSO = np.array([[-0.12, -0.31], [0.12, -0.31], [0.085, 0.03], [-0.085, 0.03]])
_NECK = np.array([[0.0, -0.52 + _HEAD_H], [0.0, -0.3]])
_SKIN_TONES = np.array([[180, 200, 240], [140, 170, 220], [100, 130, 180], [60, 90, 140]])


def _direction(degrees: float, side: int) -> np.ndarray:
    """Unit vector ``degrees`` away from straight down, towards ``side`` (+1: image right)."""
    t = np.deg2rad(degrees)
    return np.array([side * np.sin(t), np.cos(t)])


# joint-angle ranges (degrees from straight down, towards the body's own side): upper limb
# uniform in ``arm`` / ``thigh``, lower limb = upper + uniform ``*_bend``, clipped to ``*_clip``
POSE_LIMITS = {
    "arm": (15, 140),
    "forearm_bend": (-50, 70),
    "forearm_clip": (5, 175),
    "thigh": (0, 30),
    "shin_bend": (-20, 10),
    "shin_clip": (-5, 35),
}


def _pose(rng: np.random.Generator, limits: dict = POSE_LIMITS) -> np.ndarray:
    """(17, 2) keypoints in body units for a random plausible pose (angles within ``limits``)."""
    kp = np.zeros((17, 2))
    kp[_K["nose"]] = _HEAD_CENTER + (0, 0.12 * _HEAD_H)
    for side, s in ((1, "left"), (-1, "right")):
        kp[_K[f"{s}_eye"]] = _HEAD_CENTER + (side * 0.22 * _HEAD_W, -0.1 * _HEAD_H)
        kp[_K[f"{s}_ear"]] = _HEAD_CENTER + (side * 0.5 * _HEAD_W, 0)
        kp[_K[f"{s}_shoulder"]] = (side * 0.11, -0.3)
        arm = rng.uniform(*limits["arm"])
        forearm = np.clip(arm + rng.uniform(*limits["forearm_bend"]), *limits["forearm_clip"])
        kp[_K[f"{s}_elbow"]] = kp[_K[f"{s}_shoulder"]] + 0.16 * _direction(arm, side)
        kp[_K[f"{s}_wrist"]] = kp[_K[f"{s}_elbow"]] + 0.15 * _direction(forearm, side)
        kp[_K[f"{s}_hip"]] = (side * 0.065, 0.0)
        thigh = rng.uniform(*limits["thigh"])
        shin = np.clip(thigh + rng.uniform(*limits["shin_bend"]), *limits["shin_clip"])
        kp[_K[f"{s}_knee"]] = kp[_K[f"{s}_hip"]] + 0.24 * _direction(thigh, side)
        kp[_K[f"{s}_ankle"]] = kp[_K[f"{s}_knee"]] + 0.24 * _direction(shin, side)
    return kp


class _Canvas:
    """Draws bool part masks on the padded canvas; coordinates are image pixels."""

    shape = (SIZE + 2 * PAD, SIZE + 2 * PAD)

    @staticmethod
    def _fixed(p) -> tuple:
        return tuple(int(v) for v in np.rint((np.asarray(p) + PAD) * 16))

    def line(self, p, q, thickness: int) -> np.ndarray:
        mask = np.zeros(self.shape, np.uint8)
        cv2.line(mask, self._fixed(p), self._fixed(q), 1, thickness, cv2.LINE_8, 4)
        return mask.astype(bool)

    def ellipse(self, center, axes, angle: float = 0.0) -> np.ndarray:
        mask = np.zeros(self.shape, np.uint8)
        axes = tuple(int(v) for v in np.rint(np.maximum(axes, 0.5) * 16))
        cv2.ellipse(mask, self._fixed(center), axes, angle, 0, 360, 1, -1, cv2.LINE_8, 4)
        return mask.astype(bool)

    def polygon(self, points) -> np.ndarray:
        return fill_polygon(self.shape, np.asarray(points) + PAD)


def _figure(
    rng: np.random.Generator,
    hues: list,
    height: Optional[float] = None,
    tilt: Optional[float] = None,
    origin: Optional[Sequence[float]] = None,
    limits: dict = POSE_LIMITS,
):
    """A random figure: ``(parts [(padded mask, bgr)] in drawing order, (17, 2) keypoints, hue,
    head)`` with ``head`` = {"top", "neck" (its lowest point), "box" [x1, y1, x2, y2]}.

    ``height`` (px), ``tilt`` (degrees, about the hip centre) and ``origin`` (the hip centre in
    image pixels) are drawn when not given (70-140, ±8, inside the image); ``limits`` bound the
    joint angles (:data:`POSE_LIMITS`)."""
    height = rng.uniform(70, 140) if height is None else height
    tilt = rng.uniform(-8, 8) if tilt is None else tilt
    c, s = np.cos(np.deg2rad(tilt)), np.sin(np.deg2rad(tilt))
    if origin is None:
        origin = [rng.uniform(0.1, 0.9) * SIZE, rng.uniform(0.45 * height, SIZE - 0.35 * height)]
    origin = np.asarray(origin, np.float64)

    def place(points):
        return np.asarray(points) * height @ np.array([[c, s], [-s, c]]) + origin

    kp = place(_pose(rng, limits))
    shirt, hue = saturated_color(rng, hues)
    pants = saturated_color(rng, [hue])[0] * 0.6
    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] + rng.uniform(-10, 10, size=3)
    thickness = max(2, int(round(0.045 * height)))
    head_axes = np.array([_HEAD_W, _HEAD_H]) * height / 2
    dot = max(1.0, 0.06 * _HEAD_W * height)
    canvas, parts = _Canvas(), []
    for side in ("left", "right"):
        hip, knee, ankle = (kp[_K[f"{side}_{j}"]] for j in ("hip", "knee", "ankle"))
        parts += [(canvas.line(hip, knee, thickness), pants)]
        parts += [(canvas.line(knee, ankle, thickness), pants)]
    parts += [(canvas.polygon(place(_TORSO)), shirt), (canvas.line(*place(_NECK), thickness), skin)]
    for side in ("left", "right"):
        shoulder, elbow, wrist = (kp[_K[f"{side}_{j}"]] for j in ("shoulder", "elbow", "wrist"))
        parts += [(canvas.line(shoulder, elbow, thickness), shirt)]
        parts += [(canvas.line(elbow, wrist, thickness), skin)]
        parts += [(canvas.ellipse(kp[_K[f"{side}_ear"]], (1.3 * dot, 1.3 * dot)), skin)]
    parts += [(canvas.ellipse(place(_HEAD_CENTER), head_axes, tilt), skin)]
    parts += [
        (canvas.ellipse(kp[_K[f"{side}_eye"]], (dot, dot)), (40, 30, 30))
        for side in ("left", "right")
    ]
    parts += [(canvas.ellipse(kp[_K["nose"]], (dot, dot)), skin * 0.7)]
    a, b = head_axes
    half = np.array([np.hypot(a * c, b * s), np.hypot(a * s, b * c)])  # rotated-ellipse extent
    center = place(_HEAD_CENTER)
    head = {
        "top": place(_HEAD_CENTER - (0, _HEAD_H / 2)),
        "neck": place(_HEAD_CENTER + (0, _HEAD_H / 2)),
        "box": np.concatenate([center - half, center + half]),
    }
    return parts, kp, hue, head


def _crop(mask: np.ndarray) -> np.ndarray:
    return mask[PAD : PAD + SIZE, PAD : PAD + SIZE]


def _keypoints(kp: np.ndarray, covered: np.ndarray) -> list:
    """COCO ``[x, y, v] * 17`` (integer pixel indices) and the number of labelled keypoints."""
    out = []
    for x, y in np.rint(kp).astype(int):
        if 0 <= x < SIZE and 0 <= y < SIZE:
            out += [int(x), int(y), 1 if covered[y, x] else 2]
        else:
            out += [0, 0, 0]
    return out


def _render(rng: np.random.Generator, index: int):
    image = smooth_background(rng, SIZE, SIZE)
    if index % 20 == 10:
        return image, []
    layers, hues, keypoints = Layers(min_fraction=0.5), [], []
    for _ in range(rng.integers(1, 3)):
        for _attempt in range(20):
            parts, kp, hue, _ = _figure(rng, hues)
            full = np.logical_or.reduce([mask for mask, _ in parts])
            if layers.try_add(_crop(full), 1, full_area=full.sum()):
                for mask, color in parts:
                    paint(image, _crop(mask), color, rng, noise=4.0)
                hues.append(hue)
                keypoints.append(kp)
                break
    if keypoints and rng.random() < 0.35:
        # an occluding rectangle, centred near a random keypoint so that it usually hides some
        for _attempt in range(10):
            person = keypoints[rng.integers(len(keypoints))]
            center = person[rng.integers(17)] + rng.normal(0, 8, size=2)
            half = rng.uniform(6, 22, size=2)
            x0, y0 = np.clip(np.rint(center - half), 0, SIZE).astype(int)
            x1, y1 = np.clip(np.rint(center + half), 0, SIZE).astype(int)
            rect = np.zeros((SIZE, SIZE), bool)
            rect[y0:y1, x0:x1] = True
            if rect.any() and layers.try_add(rect):
                gray = rng.uniform(40, 220) + rng.uniform(-10, 10, size=3)
                paint(image, rect, gray, rng, noise=4.0)
                break
    annotations = []
    for (k, ann), kp in zip(layers.annotations(), keypoints):
        ann["keypoints"] = _keypoints(kp, layers.covered_after(k))
        ann["num_keypoints"] = sum(v > 0 for v in ann["keypoints"][2::3])
        annotations.append(ann)
    return image, annotations


def generate_split(out_dir: str, num_images: int, seed: int) -> None:
    """Write one ``vp_people`` split into ``out_dir``."""
    write_coco_split(out_dir, num_images, seed, _render, CATEGORIES)


PEOPLE_SPEC = SyntheticSpec(
    prefix="vp_people",
    version=1,
    splits={"train": 240, "val": 48},
    generate=generate_split,
    metadata={
        "thing_classes": ["person"],
        "thing_dataset_id_to_contiguous_id": {1: 0},
        "keypoint_names": list(COCO_PERSON_KEYPOINT_NAMES),
        "keypoint_flip_map": list(COCO_PERSON_KEYPOINT_FLIP_MAP),
        "keypoint_connection_rules": list(KEYPOINT_CONNECTION_RULES),
    },
)
