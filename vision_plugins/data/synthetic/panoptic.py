"""``vp_panoptic``: 128x128 scenes of stuff regions and thing shapes in COCO-panoptic format.

Stuff (non-contiguous ids): ``sky`` above a wavy horizon, ``grass`` and ``road`` below it, split by
a slanted boundary (one of them may fill the ground), each with its own texture. Things: 1-4
circles / squares / triangles (the ``vp_shapes`` classes and ids) in saturated colours, occluding
each other. Void: a dark unlabelled blob in every other image. Every 10th image (index 3 mod 10)
has a crowd cluster of one thing class (``iscrowd=1``).

Each split directory holds ``images/*.png``, ``panoptic/*.png`` (segment id = R + 256 G + 256² B,
0 = void; ids span several bytes), ``panoptic.json`` (COCO panoptic, categories with colours) and
``instances.json`` (the thing segments as COCO instances, polygons / crowd RLE) for box and mask AP.
"""

import json
import os

import cv2
import numpy as np

from ..panoptic import load_panoptic_json, panoptic_metadata
from .common import Layers, SyntheticSpec, image_rng, paint
from .shapes import CATEGORIES as THING_CATEGORIES
from .shapes import add_crowd_cluster, add_shapes

__all__ = [
    "PANOPTIC_SPEC",
    "CATEGORIES",
    "render_scene",
    "stuff_layout",
    "paint_stuff",
    "write_panoptic_png",
    "segment_bbox",
]

SIZE = 128
STUFF_CATEGORIES = [
    {"id": 21, "name": "sky", "isthing": 0, "color": [70, 130, 180]},
    {"id": 22, "name": "grass", "isthing": 0, "color": [107, 142, 35]},
    {"id": 25, "name": "road", "isthing": 0, "color": [128, 64, 128]},
]
_THING_COLORS = {1: [220, 20, 60], 3: [0, 0, 142], 7: [250, 170, 30]}
CATEGORIES = [
    {**c, "isthing": 1, "color": _THING_COLORS[c["id"]]} for c in THING_CATEGORIES
] + STUFF_CATEGORIES
_NAMES = {c["id"]: c["name"] for c in CATEGORIES}


def stuff_layout(rng, hw=(SIZE, SIZE)):
    """``{category_id: mask}`` of the stuff regions (a partition of an ``hw`` image)."""
    yy, xx = np.mgrid[0 : hw[0], 0 : hw[1]]
    horizon = rng.uniform(30, 60) + rng.uniform(3, 8) * np.sin(
        xx * rng.uniform(0.04, 0.1) + rng.uniform(0, 2 * np.pi)
    )
    sky = yy < horizon
    ground = ~sky
    if rng.random() < 0.3:
        return {21: sky, int(rng.choice([22, 25])): ground}
    x_split = rng.uniform(30, hw[1] - 30) + (yy - hw[0]) * rng.uniform(-0.6, 0.6)
    left = xx < x_split
    a, b = (22, 25) if rng.random() < 0.5 else (25, 22)
    return {21: sky, a: ground & left, b: ground & ~left}


def paint_stuff(image, cat, mask, rng):
    """Fill ``mask`` of ``image`` with the texture of stuff class ``cat``."""
    yy, xx = np.nonzero(mask)
    if cat == 21:  # sky: pale blue, vertical gradient
        base = np.array([rng.uniform(190, 235), rng.uniform(150, 190), rng.uniform(90, 130)])
        values = base + (yy[:, None] * rng.uniform(-0.4, 0.0)) + rng.normal(0, 2, (len(yy), 3))
    elif cat == 22:  # grass: green with vertical stripes
        base = np.array([rng.uniform(30, 60), rng.uniform(110, 150), rng.uniform(40, 80)])
        stripes = 18 * np.sin(xx * rng.uniform(0.8, 1.2))[:, None]
        values = base + stripes + rng.normal(0, 6, (len(yy), 3))
    else:  # road: grey, fine noise, diagonal texture
        base = rng.uniform(85, 115) + rng.uniform(-4, 4, 3)
        values = base + 8 * np.sin((xx + yy) * 0.5)[:, None] + rng.normal(0, 4, (len(yy), 3))
    image[mask] = np.clip(np.rint(values), 0, 255).astype(np.uint8)


def render_scene(rng: np.random.Generator, index: int):
    """``(bgr image, segments)``; each segment = ``(visible mask, category_id, iscrowd)``."""
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    stuff = stuff_layout(rng)
    for cat, mask in stuff.items():
        paint_stuff(image, cat, mask, rng)
    void = np.zeros((SIZE, SIZE), bool)
    if index % 2 == 1:
        center = tuple(int(v) for v in rng.uniform(10, SIZE - 10, size=2))
        axes = tuple(int(v) for v in rng.uniform(4, 10, size=2))
        blob = np.zeros((SIZE, SIZE), np.uint8)
        cv2.ellipse(blob, center, axes, rng.uniform(0, 180), 0, 360, 1, -1)
        void = blob.astype(bool)
        paint(image, void, (20, 20, 20), rng, noise=3)
    layers = Layers(min_fraction=0.6)
    if index % 10 == 3:
        add_crowd_cluster(rng, image, layers, THING_CATEGORIES, distinct_neighbours=False)
    add_shapes(rng, image, layers, THING_CATEGORIES, max_size=50.0)
    things = np.logical_or.reduce(layers.masks + [np.zeros((SIZE, SIZE), bool)])
    segments = []
    for cat, mask in stuff.items():
        visible = mask & ~void & ~things
        if visible.any():
            segments.append((visible, cat, False))
    segments += layers.segments()
    return image, segments, layers


def write_panoptic_png(path: str, ids: np.ndarray) -> None:
    """COCO-panoptic PNG of an id map (R = id % 256, G = id // 256 % 256, B = id // 256²)."""
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)
    if not cv2.imwrite(path, rgb[..., ::-1]):
        raise OSError(f"could not write {path}")


def segment_bbox(mask):
    """COCO ``[x, y, w, h]`` of a non-empty mask (integers)."""
    ys, xs = np.nonzero(mask)
    return [
        int(xs.min()),
        int(ys.min()),
        int(xs.max() - xs.min() + 1),
        int(ys.max() - ys.min() + 1),
    ]


def generate_split(out_dir: str, num_images: int, seed: int) -> None:
    """Write one ``vp_panoptic`` split into ``out_dir``."""
    for sub in ("images", "panoptic"):
        os.makedirs(os.path.join(out_dir, sub))
    images, pan_anns, inst_anns = [], [], []
    for index in range(num_images):
        image, segments, layers = render_scene(image_rng(seed, index), index)
        file_name = f"{index:06d}.png"
        cv2.imwrite(os.path.join(out_dir, "images", file_name), image)
        ids = np.zeros((SIZE, SIZE), np.int64)
        infos = []
        for k, (mask, cat, crowd) in enumerate(segments):
            seg_id = cat * 1000 + k + 1  # spans two bytes: exercises rgb2id
            ids[mask] = seg_id
            infos.append(
                {
                    "id": seg_id,
                    "category_id": cat,
                    "iscrowd": int(crowd),
                    "bbox": segment_bbox(mask),
                    "area": int(mask.sum()),
                }
            )
        write_panoptic_png(os.path.join(out_dir, "panoptic", file_name), ids)
        images.append({"id": index + 1, "file_name": file_name, "height": SIZE, "width": SIZE})
        pan_anns.append({"image_id": index + 1, "file_name": file_name, "segments_info": infos})
        for _, ann in layers.annotations():
            inst_anns.append({**ann, "id": len(inst_anns) + 1, "image_id": index + 1})
    info = {"description": "vision_plugins synthetic panoptic dataset"}
    with open(os.path.join(out_dir, "panoptic.json"), "w") as f:
        json.dump(
            {"info": info, "images": images, "annotations": pan_anns, "categories": CATEGORIES}, f
        )
    with open(os.path.join(out_dir, "instances.json"), "w") as f:
        json.dump(
            {
                "info": info,
                "licenses": [],
                "images": images,
                "annotations": inst_anns,
                "categories": [{k: c[k] for k in ("id", "name")} for c in THING_CATEGORIES],
            },
            f,
        )


def _load(json_file: str, image_root: str, dataset_name: str):
    split = os.path.dirname(json_file)
    return load_panoptic_json(
        os.path.join(split, "panoptic.json"),
        image_root,
        os.path.join(split, "panoptic"),
        dataset_name,
    )


def _split_metadata(split_dir: str) -> dict:
    return {
        "panoptic_json": os.path.join(split_dir, "panoptic.json"),
        "panoptic_root": os.path.join(split_dir, "panoptic"),
    }


PANOPTIC_SPEC = SyntheticSpec(
    prefix="vp_panoptic",
    version=1,
    splits={"train": 300, "val": 60},
    generate=generate_split,
    metadata=panoptic_metadata(CATEGORIES),
    load=_load,
    evaluator_type="coco_panoptic_seg",
    annotation_file="instances.json",
    split_metadata=_split_metadata,
)
