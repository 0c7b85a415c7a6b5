"""``vp_shapes``: 128x128 images of solid circles, squares and triangles (COCO instances).

1-4 objects of 20-60 px per image, later ones partially occluding earlier ones; every 10th image
(index 3 mod 10) also has a crowd cluster of 4-8 small shapes of one class annotated as a single
``iscrowd=1`` RLE region, and every 20th image (index 10 mod 20) is background only.
"""

import numpy as np

from .common import (
    Layers,
    SyntheticSpec,
    fill_polygon,
    paint,
    saturated_color,
    smooth_background,
    write_coco_split,
)

__all__ = [
    "SHAPES_SPEC",
    "CATEGORIES",
    "shape_mask",
    "random_shape",
    "add_crowd_cluster",
    "add_shapes",
]

SIZE = 128
# non-contiguous ids on purpose: exercises detectron2's contiguous-id mapping
CATEGORIES = [
    {"id": 1, "name": "circle", "supercategory": "shape"},
    {"id": 3, "name": "square", "supercategory": "shape"},
    {"id": 7, "name": "triangle", "supercategory": "shape"},
]
_SIDES = {"circle": 0, "square": 4, "triangle": 3}
_CIRCUMRADIUS = {"circle": 0.5, "square": 0.8 / np.sqrt(2), "triangle": 1 / np.sqrt(3)}


def shape_mask(name: str, center, size: float, angle: float, hw=(SIZE, SIZE)) -> np.ndarray:
    """Mask (``hw``) of a shape of ``size`` px (circle diameter, 0.8x square side, triangle
    side)."""
    n = _SIDES[name] or 64  # a circle is a 64-gon at this scale
    t = angle + 2 * np.pi * np.arange(n) / n
    radius = _CIRCUMRADIUS[name] * size
    return fill_polygon(hw, np.asarray(center) + radius * np.stack([np.cos(t), np.sin(t)], 1))


def random_shape(rng: np.random.Generator, name: str, size: float, center=None, hw=(SIZE, SIZE)):
    """``shape_mask`` at a random angle, centred at ``center`` or at random fully inside."""
    if center is None:
        margin = _CIRCUMRADIUS[name] * size + 1
        center = rng.uniform(margin, np.array(hw[::-1]) - margin, size=2)
    return shape_mask(name, center, size, rng.uniform(0, 2 * np.pi), hw)


def add_crowd_cluster(rng, image, layers, categories=CATEGORIES, distinct_neighbours=True):
    """A cluster of 4-8 small shapes of one class, annotated as one crowd region (if ``layers``
    accepts it); ``distinct_neighbours``: each member's hue differs from the previous one's."""
    size = image.shape[0]
    cat = categories[rng.integers(len(categories))]
    center = rng.uniform(24, size - 24, size=2)
    members = [
        random_shape(rng, cat["name"], rng.uniform(6, 10), center + offset, image.shape[:2])
        for offset in np.clip(rng.normal(0, 7, size=(rng.integers(4, 9), 2)), -14, 14)
    ]
    if layers.try_add(np.logical_or.reduce(members), cat["id"], iscrowd=True):
        previous = ()
        for member in members:
            color, hue = saturated_color(rng, previous)
            paint(image, member, color, rng)
            previous = (hue,) if distinct_neighbours else ()


def add_shapes(rng, image, layers, categories=CATEGORIES, max_size=60.0):
    """1-4 shapes of 20-``max_size`` px in distinct saturated colours, each placed (20 tries)
    where ``layers`` accepts it."""
    hues = []
    for _ in range(rng.integers(1, 5)):
        cat = categories[rng.integers(len(categories))]
        size = rng.uniform(20, max_size)
        for _attempt in range(20):
            mask = random_shape(rng, cat["name"], size, hw=image.shape[:2])
            if layers.try_add(mask, cat["id"]):
                color, hue = saturated_color(rng, hues)
                paint(image, mask, color, rng)
                hues.append(hue)
                break


def _render(rng: np.random.Generator, index: int):
    image = smooth_background(rng, SIZE, SIZE)
    if index % 20 == 10:
        return image, []
    layers = Layers(min_fraction=0.6)
    if index % 10 == 3:
        add_crowd_cluster(rng, image, layers)
    add_shapes(rng, image, layers)
    return image, [ann for _, ann in layers.annotations()]


def generate_split(out_dir: str, num_images: int, seed: int) -> None:
    """Write one ``vp_shapes`` split into ``out_dir``."""
    write_coco_split(out_dir, num_images, seed, _render, CATEGORIES)


SHAPES_SPEC = SyntheticSpec(
    prefix="vp_shapes",
    version=1,
    splits={"train": 300, "val": 60},
    generate=generate_split,
    metadata={
        "thing_classes": [c["name"] for c in CATEGORIES],
        "thing_dataset_id_to_contiguous_id": {c["id"]: i for i, c in enumerate(CATEGORIES)},
    },
)
