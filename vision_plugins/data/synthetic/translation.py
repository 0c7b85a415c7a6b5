"""Image-to-image translation sets, in the official pix2pix / CycleGAN folder layouts
(:mod:`vision_plugins.data.translation`); each split directory's ``images/`` is an official
``--dataroot`` with the split as ``--phase``.

``vp_pix2pix_{train,val}`` (64 / 16 files; aligned): ``images/<split>/NNNNNN.png``, 128×64 A|B
pairs. A (left, 64×64) is a label map painted in the flat :data:`LABEL_COLORS` of
:data:`CLASS_NAMES` (3-8 rectangles, ellipses and triangles of 8-32 px on a background, later
ones on top, drawn without anti-aliasing); B (right) is its "photo", a fixed function of the
label map (:func:`render_photo`): per pixel of class ``k`` at distance ``d`` (px, Euclidean) from
the nearest pixel of another class, ``PHOTO_COLORS[k] * (0.6 + 0.4 * min(d, 6) / 6) +
BAND_AMPLITUDE[k] * cos(2π d / BAND_PERIOD[k])``, rounded and clipped: the class colour, darker
towards the region's edge, with concentric bands of a fixed per-class period. Everything depends
only on the label map and on distances within it, so a small network can learn it on crops and
flips (e.g. ``INPUT.GAN`` LOAD_SIZE 72 / CROP_SIZE 64 with ``resize_and_crop``, or PREPROCESS
``none`` at 64²; ``UnetGenerator`` with NUM_DOWNS up to 6 takes 64² inputs).

``vp_cyclegan_{train,val}`` (unaligned, 64×64): domain A images are procedural warm-coloured
(hue 0-60°) gradients with discs, boxes and striped bands; domain B = :func:`f` of *other* A
images, ``f(r, g, b) = (b, r, g)``: the hue turned by +120° (red -> green), exactly invertible on
uint8 (:func:`f_inverse`: ``(r, g, b) -> (g, b, r)``). ``train``: ``images/trainA/a_NNNNNN.png``
(64) and ``images/trainB/b_NNNNNN.png`` (56, made from 56 A images not in trainA: file order
and names carry no pairing). ``val`` (16 + 16) keeps the pairs: ``images/valA_target/`` holds
``f`` of every ``valA`` file and ``images/valB_target/`` ``f_inverse`` of every ``valB`` file
(same names), so the val dicts have ``file_name_target`` / ``file_name_B_target`` and the
mapper gives ``target`` / ``target_B``.

Each split directory also has ``translation.json`` (layout, counts, the definitions above).
Generation is seeded (``image_rng``) and takes well under a second.
"""

import functools
import json
import os

import cv2
import numpy as np

from ..translation import load_aligned_dataset, load_unaligned_dataset
from .common import SyntheticSpec, image_rng

__all__ = [
    "PIX2PIX_SPECS",
    "CYCLEGAN_SPECS",
    "CLASS_NAMES",
    "LABEL_COLORS",
    "PHOTO_COLORS",
    "BAND_PERIOD",
    "BAND_AMPLITUDE",
    "render_labels",
    "label_image",
    "render_photo",
    "render_domain_A",
    "f",
    "f_inverse",
]

SIZE = 64
VERSION = 1
CLASS_NAMES = ("background", "wall", "window", "door", "roof", "plant")
#: flat colours of the label maps (A), RGB
LABEL_COLORS = np.array(
    [[0, 0, 170], [0, 85, 255], [255, 85, 0], [170, 0, 0], [0, 255, 255], [85, 255, 170]],
    np.uint8,
)
#: base colours of the photos (B), RGB
PHOTO_COLORS = np.array(
    [[140, 150, 165], [205, 175, 125], [60, 90, 165], [150, 60, 40], [95, 95, 100], [70, 135, 60]],
    np.float64,
)
BAND_PERIOD = np.array([12.0, 4.0, 6.0, 3.0, 8.0, 5.0])  # px
BAND_AMPLITUDE = np.array([12.0, 22.0, 26.0, 24.0, 18.0, 28.0])
_SHADE_DISTANCE = 6.0
PIX2PIX_SPLITS = {"train": 64, "val": 16}
CYCLEGAN_SPLITS = {"train": 64, "val": 16}
_B_SOURCE_OFFSET = 1_000_000  # image_rng index of the A images B is made from
COLOUR_MAP = "f(r, g, b) = (b, r, g) (hue +120 degrees); f_inverse(r, g, b) = (g, b, r)"


def _write_rgb(path, rgb):
    if not cv2.imwrite(path, np.ascontiguousarray(rgb[:, :, ::-1])):
        raise OSError(f"could not write {path}")


def _write_info(out_dir, info):
    with open(os.path.join(out_dir, "translation.json"), "w") as fh:
        json.dump(info, fh, indent=1, sort_keys=True)


# ---------------------------------------------------------------------------------------------
# vp_pix2pix


def render_labels(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A size×size class-id map (uint8): background with 3-8 shapes of classes 1-5."""
    labels = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(3, 9))):
        k = int(rng.integers(1, len(CLASS_NAMES)))
        w, h = (int(v) for v in rng.integers(8, 33, size=2))
        x, y = int(rng.integers(-w // 3, size - w // 2)), int(rng.integers(-h // 3, size - h // 2))
        kind = int(rng.integers(3))
        if kind == 0:
            cv2.rectangle(labels, (x, y), (x + w - 1, y + h - 1), k, -1, cv2.LINE_8)
        elif kind == 1:
            cv2.ellipse(labels, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, k, -1,
                        cv2.LINE_8)  # fmt: skip
        else:
            points = np.array([[x + w // 2, y], [x, y + h - 1], [x + w - 1, y + h - 1]], np.int32)
            cv2.fillPoly(labels, [points], k, cv2.LINE_8)
    return labels


def label_image(labels: np.ndarray) -> np.ndarray:
    """The A image of a class-id map: flat :data:`LABEL_COLORS` (H×W×3 RGB uint8)."""
    return LABEL_COLORS[labels]


def _edge_distance(labels: np.ndarray) -> np.ndarray:
    """Per pixel, the Euclidean distance to the nearest pixel of another class (capped at the
    image diagonal when the whole image is one class)."""
    distance = np.full(labels.shape, float(np.hypot(*labels.shape)))
    for k in np.unique(labels):
        mask = labels == k
        if mask.all():
            continue
        d = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        distance[mask] = d[mask]
    return distance


def render_photo(labels: np.ndarray) -> np.ndarray:
    """The B image of a class-id map (H×W×3 RGB uint8; module doc for the formula)."""
    d = _edge_distance(labels)
    shade = 0.6 + 0.4 * np.minimum(d, _SHADE_DISTANCE) / _SHADE_DISTANCE
    bands = BAND_AMPLITUDE[labels] * np.cos(2 * np.pi * d / BAND_PERIOD[labels])
    photo = PHOTO_COLORS[labels] * shade[..., None] + bands[..., None]
    return np.clip(np.rint(photo), 0, 255).astype(np.uint8)


def generate_aligned_split(out_dir: str, num_images: int, seed: int, phase: str) -> None:
    folder = os.path.join(out_dir, "images", phase)
    os.makedirs(folder)
    for index in range(num_images):
        labels = render_labels(image_rng(seed, index))
        pair = np.concatenate([label_image(labels), render_photo(labels)], axis=1)
        _write_rgb(os.path.join(folder, f"{index:06d}.png"), pair)
    _write_info(
        out_dir,
        {
            "layout": "aligned",
            "phase": phase,
            "num_images": num_images,
            "pair": "A|B side by side, A = label map (left), B = photo (right), 64x64 each",
            "label_names": list(CLASS_NAMES),
            "label_colors": LABEL_COLORS.tolist(),
            "photo": "PHOTO_COLORS[k] * (0.6 + 0.4 * min(d, 6) / 6) + "
            "BAND_AMPLITUDE[k] * cos(2 pi d / BAND_PERIOD[k]), d = distance to another class",
            "photo_colors": PHOTO_COLORS.tolist(),
            "band_period": BAND_PERIOD.tolist(),
            "band_amplitude": BAND_AMPLITUDE.tolist(),
        },
    )


def _load_aligned(json_file, image_root, name, phase):
    return load_aligned_dataset(image_root, phase)


def _aligned_spec(split, count):
    return SyntheticSpec(
        prefix="vp_pix2pix",
        version=VERSION,
        splits={split: count},
        generate=functools.partial(generate_aligned_split, phase=split),
        metadata={
            "dataset_layout": "aligned",
            "phase": split,
            "label_names": list(CLASS_NAMES),
            "label_colors": LABEL_COLORS.tolist(),
        },
        load=functools.partial(_load_aligned, phase=split),
        evaluator_type="translation",
        annotation_file="translation.json",
    )


PIX2PIX_SPECS = tuple(_aligned_spec(s, n) for s, n in PIX2PIX_SPLITS.items())


# ---------------------------------------------------------------------------------------------
# vp_cyclegan


def f(rgb: np.ndarray) -> np.ndarray:
    """Domain A -> B: ``(r, g, b) -> (b, r, g)`` on the last axis (hue +120°), exact on uint8."""
    return np.ascontiguousarray(np.asarray(rgb)[..., [2, 0, 1]])


def f_inverse(rgb: np.ndarray) -> np.ndarray:
    """Domain B -> A, the inverse of :func:`f`: ``(r, g, b) -> (g, b, r)``."""
    return np.ascontiguousarray(np.asarray(rgb)[..., [1, 2, 0]])


def _hsv_to_rgb(h, s, v):
    """Vectorised HSV (all in [0, 1]) -> RGB in [0, 1]."""
    h = np.mod(h, 1.0) * 6
    c = v * s
    x = c * (1 - np.abs(np.mod(h, 2) - 1))
    zero = np.zeros_like(h)
    sector = np.floor(h).astype(int) % 6
    r = np.choose(sector, [c, x, zero, zero, x, c])
    g = np.choose(sector, [x, c, c, x, zero, zero])
    b = np.choose(sector, [zero, zero, x, c, c, x])
    return np.stack([r, g, b], -1) + (v - c)[..., None]


def _warm(rng, n=None):
    """HSV triples of warm colours: hue 0-60°, saturation 0.45-1, value 0.35-1."""
    return rng.uniform(0, 60 / 360, n), rng.uniform(0.45, 1.0, n), rng.uniform(0.35, 1.0, n)


def render_domain_A(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A domain-A image (size×size×3 RGB uint8): a warm two-colour gradient with 2-5 discs,
    boxes or striped bands in other warm colours, and mild noise."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    angle = rng.uniform(0, 2 * np.pi)
    t = np.clip(0.5 + (np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5)), 0, 1)
    hsv = [np.array(c) for c in _warm(rng, 2)]
    h, s, v = (c[0] * (1 - t) + c[1] * t for c in hsv)
    image = _hsv_to_rgb(h, s, v)
    for _ in range(int(rng.integers(2, 6))):
        colour = _hsv_to_rgb(*(np.array(c) for c in _warm(rng)))
        kind = int(rng.integers(3))
        cx, cy = rng.uniform(0, 1, 2)
        if kind == 0:
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 < rng.uniform(0.08, 0.3) ** 2
        elif kind == 1:
            hw, hh = rng.uniform(0.08, 0.3, 2)
            mask = (np.abs(xx - cx) < hw) & (np.abs(yy - cy) < hh)
        else:
            theta = rng.uniform(0, np.pi)
            u = np.cos(theta) * (xx - cx) + np.sin(theta) * (yy - cy)
            period = rng.uniform(4, 10) / size
            mask = (np.abs(u) < rng.uniform(0.1, 0.3)) & (np.mod(u, period) < period / 2)
        image[mask] = colour
    noisy = image * 255 + rng.normal(0, 3, image.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def generate_unaligned_split(out_dir: str, num_images: int, seed: int, phase: str) -> None:
    """``num_images`` A images; B from other A images (7/8 as many in training, as many with
    their targets in validation, module doc)."""
    paired = phase != "train"
    num_B = num_images if paired else max(1, num_images * 7 // 8)
    root = os.path.join(out_dir, "images")
    folders = [f"{phase}A", f"{phase}B"] + ([f"{phase}A_target", f"{phase}B_target"] * paired)
    for folder in folders:
        os.makedirs(os.path.join(root, folder))
    for index in range(num_images):
        a = render_domain_A(image_rng(seed, index))
        _write_rgb(os.path.join(root, f"{phase}A", f"a_{index:06d}.png"), a)
        if paired:
            _write_rgb(os.path.join(root, f"{phase}A_target", f"a_{index:06d}.png"), f(a))
    for index in range(num_B):
        source = render_domain_A(image_rng(seed, _B_SOURCE_OFFSET + index))
        _write_rgb(os.path.join(root, f"{phase}B", f"b_{index:06d}.png"), f(source))
        if paired:
            _write_rgb(os.path.join(root, f"{phase}B_target", f"b_{index:06d}.png"), source)
    info = {
        "layout": "unaligned",
        "phase": phase,
        "num_A": num_images,
        "num_B": num_B,
        "size": SIZE,
        "colour_map": COLOUR_MAP,
        "B": "f of A images not among the A files",
    }
    if paired:
        info["target_dirs"] = folders[2:]
    _write_info(out_dir, info)


def _target_dirs(phase):
    return None if phase == "train" else (f"{phase}A_target", f"{phase}B_target")


def _load_unaligned(json_file, image_root, name, phase):
    return load_unaligned_dataset(image_root, phase, target_dirs=_target_dirs(phase))


def _unaligned_spec(split, count):
    metadata = {"dataset_layout": "unaligned", "phase": split, "colour_map": COLOUR_MAP}
    if _target_dirs(split):
        metadata["target_dirs"] = list(_target_dirs(split))
    return SyntheticSpec(
        prefix="vp_cyclegan",
        version=VERSION,
        splits={split: count},
        generate=functools.partial(generate_unaligned_split, phase=split),
        metadata=metadata,
        load=functools.partial(_load_unaligned, phase=split),
        evaluator_type="translation",
        annotation_file="translation.json",
    )


CYCLEGAN_SPECS = tuple(_unaligned_spec(s, n) for s, n in CYCLEGAN_SPLITS.items())
