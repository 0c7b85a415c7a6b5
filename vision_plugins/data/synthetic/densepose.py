"""``vp_densepose``: 128x128 images of flat "bodies" with a known surface chart (DensePose-COCO).

A body is an upright rectangle (20-40 px wide, 44-84 px tall) cut into a 2x2 grid of fine parts
``I`` (1 top-left, 2 top-right, 3 bottom-left, 4 bottom-right, in the image); inside a part ``U``
runs left to right and ``V`` top to bottom over [0, 1]. Coarse parts: 1 = top row, 2 = bottom
row. The surface is the flat template sheet :data:`TEMPLATE_SIZE` (width x height), so the exact
geodesic distance of two chart points is their Euclidean distance on the sheet
(:class:`vision_plugins.evaluation.densepose.PlanarChartGeodesics`).

Appearance is mirror-symmetric (colour by row, brightness by the distance to the vertical
centre line, shading along ``V``), so the horizontal flip with the symmetries of
:data:`POINT_LABEL_SYMMETRIES` (``1 <-> 2``, ``3 <-> 4``, ``U -> 1 - U``) keeps the task
consistent, as for a front-facing person. Annotations follow DensePose-COCO: ``dp_x, dp_y``
(0..256 relative to the box), ``dp_I`` (1..4), ``dp_U, dp_V``, ``dp_masks`` (one 256x256 RLE
per coarse part over the box, or ``[]``); bodies with
``(3 × image index + drawing order) % 8 == 5`` have no DensePose annotation, as many
DensePose-COCO persons have none. The split also holds ``uv_symmetry.mat`` (``U_transforms``
/ ``V_transforms``: 1x4 cells of 256x256 tables, plus the label symmetries) for the flip.
"""

import os

import numpy as np
from scipy.io import savemat

from ..densepose import load_densepose_coco_json
from .common import Layers, SyntheticSpec, mask_to_rle, smooth_background, write_coco_split

__all__ = [
    "DENSEPOSE_SPEC",
    "CATEGORIES",
    "NUM_PATCHES",
    "NUM_COARSE",
    "POINT_LABEL_SYMMETRIES",
    "MASK_LABEL_SYMMETRIES",
    "TEMPLATE_SIZE",
    "KAPPA",
    "chart_to_template",
    "write_symmetry_file",
]

SIZE = 128
CATEGORIES = [{"id": 1, "name": "person", "supercategory": "person"}]
NUM_PATCHES = 4
NUM_COARSE = 2
# 0 = background, then parts 1..4 / coarse parts 1..2, as in DensePose's symmetry lists
POINT_LABEL_SYMMETRIES = [0, 2, 1, 4, 3]
MASK_LABEL_SYMMETRIES = [0, 1, 2]
TEMPLATE_SIZE = (0.5, 1.0)  # sheet width, height (surface units)
KAPPA = 0.1  # GPS normalisation of every part (surface units: a tenth of the body height)
POINTS_PER_BODY = 60
_ROW_HUES = ((0.95, 0.55, 0.45), (0.35, 0.55, 0.9))  # BGR base colours of the two rows


def chart_to_template(i, u, v):
    """Sheet coordinates (x, y) of chart points (I in 1..4, U, V in [0, 1])."""
    i = np.asarray(i) - 1
    col, row = i % 2, i // 2
    return (col + np.asarray(u)) / 2 * TEMPLATE_SIZE[0], (row + np.asarray(v)) / 2 * TEMPLATE_SIZE[
        1
    ]


def _chart(x0, y0, w, h, px, py):
    """(I, U, V, coarse) of image points (px, py) on the body rectangle (x0, y0, w, h)."""
    cx, cy = (px - x0) / w * 2, (py - y0) / h * 2  # 0..2 across the 2x2 grid
    col, row = np.clip(np.floor(cx), 0, 1), np.clip(np.floor(cy), 0, 1)
    u, v = np.clip(cx - col, 0, 1), np.clip(cy - row, 0, 1)
    return (1 + col + 2 * row).astype(int), u, v, (1 + row).astype(int)


def _paint_body(image, mask, x0, y0, w, h, rng):
    ys, xs = np.nonzero(mask)
    _, _, v, coarse = _chart(x0, y0, w, h, xs + 0.5, ys + 0.5)
    centre = np.abs((xs + 0.5 - x0) / w - 0.5) * 2  # 0 at the centre line, 1 at the edges
    base = np.array(_ROW_HUES)[coarse - 1] * rng.uniform(170, 230)
    values = base * (0.45 + 0.55 * centre)[:, None] * (0.85 + 0.3 * v)[:, None]
    image[ys, xs] = np.clip(np.rint(values + rng.normal(0, 3, values.shape)), 0, 255)


def _densepose_fields(visible, x0, y0, w, h, bbox, rng):
    bx, by, bw, bh = bbox
    ys, xs = np.nonzero(visible)
    pick = rng.choice(len(xs), size=min(POINTS_PER_BODY, len(xs)), replace=False)
    px = xs[pick] + rng.uniform(0.05, 0.95, len(pick))
    py = ys[pick] + rng.uniform(0.05, 0.95, len(pick))
    i, u, v, _ = _chart(x0, y0, w, h, px, py)
    # the 256x256 box grid: coarse part at each cell centre, where the body is visible
    grid = (np.arange(256) + 0.5) / 256
    gx, gy = bx + grid * bw, by + grid * bh
    cols = np.clip(gx.astype(int), 0, SIZE - 1)
    rows = np.clip(gy.astype(int), 0, SIZE - 1)
    seen = visible[rows[:, None], cols[None, :]]
    _, _, _, coarse = _chart(x0, y0, w, h, gx[None, :], gy[:, None])
    masks = []
    for part in range(1, NUM_COARSE + 1):
        m = seen & (coarse == part)
        masks.append(mask_to_rle(m) if m.any() else [])
    return {
        "dp_x": ((px - bx) / bw * 256).round(3).tolist(),
        "dp_y": ((py - by) / bh * 256).round(3).tolist(),
        "dp_I": i.astype(float).tolist(),
        "dp_U": u.round(5).tolist(),
        "dp_V": v.round(5).tolist(),
        "dp_masks": masks,
    }


def _render(rng: np.random.Generator, index: int):
    image = smooth_background(rng, SIZE, SIZE)
    layers, bodies = Layers(min_fraction=0.85), []
    for _ in range(rng.integers(1, 4)):
        w, h = rng.uniform(20, 40), rng.uniform(44, 84)
        for _attempt in range(20):
            x0, y0 = rng.uniform(1, SIZE - 1 - w), rng.uniform(1, SIZE - 1 - h)
            yy, xx = np.mgrid[0:SIZE, 0:SIZE] + 0.5
            mask = (xx >= x0) & (xx < x0 + w) & (yy >= y0) & (yy < y0 + h)
            if layers.try_add(mask, CATEGORIES[0]["id"]):
                _paint_body(image, mask, x0, y0, w, h, rng)
                bodies.append((x0, y0, w, h))
                break
    anns = []
    for k, ann in layers.annotations():
        if (3 * index + k) % 8 != 5:
            ann.update(_densepose_fields(layers.visible()[k], *bodies[k], ann["bbox"], rng))
        anns.append(ann)
    return image, anns


def write_symmetry_file(path: str) -> None:
    """DensePose's ``UV_symmetry_transforms.mat`` layout for the synthetic chart: per part a
    256x256 table indexed [V*255, U*255] giving the flipped U (``1 - U``) or V (unchanged), plus
    ``point_label_symmetries`` / ``mask_label_symmetries``."""
    v, u = np.mgrid[0:256, 0:256] / 255.0
    cells_u = np.empty((1, NUM_PATCHES), dtype=object)
    cells_v = np.empty((1, NUM_PATCHES), dtype=object)
    for k in range(NUM_PATCHES):
        cells_u[0, k], cells_v[0, k] = 1.0 - u, v.copy()
    savemat(
        path,
        {
            "U_transforms": cells_u,
            "V_transforms": cells_v,
            "point_label_symmetries": np.array(POINT_LABEL_SYMMETRIES),
            "mask_label_symmetries": np.array(MASK_LABEL_SYMMETRIES),
        },
    )


def generate_split(out_dir: str, num_images: int, seed: int) -> None:
    """Write one ``vp_densepose`` split (images, annotations.json, uv_symmetry.mat)."""
    write_coco_split(out_dir, num_images, seed, _render, CATEGORIES)
    write_symmetry_file(os.path.join(out_dir, "uv_symmetry.mat"))


def _split_metadata(split_dir: str) -> dict:
    return {"densepose_transform_src": os.path.join(split_dir, "uv_symmetry.mat")}


DENSEPOSE_SPEC = SyntheticSpec(
    prefix="vp_densepose",
    version=1,
    splits={"train": 300, "val": 60},
    generate=generate_split,
    metadata={
        "thing_classes": ["person"],
        "thing_dataset_id_to_contiguous_id": {1: 0},
        "densepose_num_patches": NUM_PATCHES,
        "densepose_num_coarse": NUM_COARSE,
        "densepose_geodesics": "vp_planar_chart",
    },
    load=load_densepose_coco_json,
    evaluator_type="densepose",
    split_metadata=_split_metadata,
)
