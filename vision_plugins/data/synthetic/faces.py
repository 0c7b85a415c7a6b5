"""``vp_faces``: 160x160 images of frontal cartoon faces with the 5 RetinaFace landmarks, written
in WIDER FACE's RetinaFace ``label.txt`` format (+ ``subsets.json`` with the evaluation level of
each face: easy >= 28 px, medium >= 14 px, hard smaller).

Each face is a skin-toned ellipse (yaw up to ±0.12 of its width shifts the inner features) with
dark eyes, a nose dot and a mouth line whose corners, eyes and nose are the landmarks (left =
smaller x). 1-7 faces of 8-64 px per image, non-overlapping; ~15 % are labelled without
landmarks (-1), as many WIDER faces are; distractors (coloured discs and bars) and images without
faces make false positives possible.
"""

import json
import os

import cv2
import numpy as np

from ..widerface import FACE_KEYPOINT_FLIP_MAP, FACE_KEYPOINT_NAMES, write_widerface_labels
from .common import SyntheticSpec, image_rng, smooth_background

__all__ = ["FACES_SPEC", "generate_split"]

SIZE = 160


def _level(w, h):
    side = min(w, h)
    return "easy" if side >= 28 else "medium" if side >= 14 else "hard"


def _draw_face(image, rng, x, y, w, h):
    """Draw one face in box (x, y, w, h); returns its (5, 2) landmarks."""
    skin = np.array([rng.uniform(90, 160), rng.uniform(140, 200), rng.uniform(190, 240)])
    cv2.ellipse(image, (int(round(x + w / 2)), int(round(y + h / 2))),
                (max(1, int(round(w / 2))), max(1, int(round(h / 2)))), 0, 0, 360,
                skin.tolist(), -1, cv2.LINE_AA)  # fmt: skip
    yaw = rng.uniform(-0.12, 0.12) * w
    jitter = rng.normal(0, 0.02, size=(5, 2)) * [w, h]
    rel = np.array([[0.32, 0.38], [0.68, 0.38], [0.5, 0.58], [0.35, 0.77], [0.65, 0.77]])
    points = np.array([x, y]) + rel * [w, h] + [yaw, 0] + jitter
    dark = (rng.uniform(10, 60),) * 3
    r_eye = max(1, int(round(0.07 * w)))
    for px, py in points[:2]:
        cv2.circle(image, (int(round(px)), int(round(py))), r_eye, dark, -1, cv2.LINE_AA)
    cv2.circle(image, tuple(int(round(v)) for v in points[2]), max(1, r_eye // 2),
               (skin * 0.6).tolist(), -1, cv2.LINE_AA)  # fmt: skip
    left, right = (tuple(int(round(v)) for v in points[k]) for k in (3, 4))
    cv2.line(image, left, right, (40, 40, 150), max(1, int(round(0.05 * w))), cv2.LINE_AA)
    return points


def _render(rng, index):
    image = smooth_background(rng, SIZE, SIZE)
    for _ in range(rng.integers(0, 4)):  # distractors
        color = rng.uniform(0, 255, size=3).tolist()
        c = rng.uniform(0, SIZE, size=2).astype(int)
        if rng.random() < 0.5:
            cv2.circle(image, tuple(int(v) for v in c), int(rng.uniform(4, 20)), color, -1)
        else:
            d = rng.uniform(4, 30, size=2).astype(int)
            cv2.rectangle(image, tuple(int(v) for v in c), tuple(int(v) for v in c + d), color, -1)
    faces, taken = [], []
    n = 0 if rng.random() < 0.05 else int(rng.integers(1, 8))
    for _ in range(n):
        for _attempt in range(20):
            w = float(np.exp(rng.uniform(np.log(8), np.log(64))))
            h = w * rng.uniform(1.1, 1.35)
            x, y = rng.uniform(0, SIZE - w), rng.uniform(0, SIZE - h)
            box = np.array([x, y, x + w, y + h])
            if all(box[2] < t[0] - 2 or box[0] > t[2] + 2 or box[3] < t[1] - 2 or box[1] > t[3] + 2
                   for t in taken):  # fmt: skip
                taken.append(box)
                points = _draw_face(image, rng, x, y, w, h)
                faces.append(((x, y, w, h), None if rng.random() < 0.15 else points))
                break
    image = np.clip(image + rng.normal(0, 3, image.shape), 0, 255).astype(np.uint8)
    return image, faces


def generate_split(out_dir, num_images, seed):
    os.makedirs(os.path.join(out_dir, "images"))
    labels, subsets = [], {}
    for index in range(num_images):
        image, faces = _render(image_rng(seed, index), index)
        path = f"{index:06d}.png"
        if not cv2.imwrite(os.path.join(out_dir, "images", path), image):
            raise OSError(f"Could not write {path} to {out_dir}")
        labels.append((path, faces))
        subsets[path] = [_level(box[2], box[3]) for box, _ in faces]
    write_widerface_labels(os.path.join(out_dir, "label.txt"), labels)
    with open(os.path.join(out_dir, "subsets.json"), "w") as f:
        json.dump(subsets, f, sort_keys=True)


def _load(label_file, image_root, name):
    from ..widerface import load_widerface_labels

    return load_widerface_labels(label_file, image_root)


FACES_SPEC = SyntheticSpec(
    prefix="vp_faces",
    version=1,
    splits={"train": 400, "val": 80},
    generate=generate_split,
    metadata={
        "thing_classes": ["face"],
        "keypoint_names": list(FACE_KEYPOINT_NAMES),
        "keypoint_flip_map": list(FACE_KEYPOINT_FLIP_MAP),
    },
    load=_load,
    evaluator_type="widerface",
    annotation_file="label.txt",
)
