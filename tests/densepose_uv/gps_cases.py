"""Seeded GPS / GPSm evaluation cases on ``vp_densepose_val`` (8 images), shared by the optional
test against detectron2's ``DensePoseCocoEval`` and the CI test that checks the numbers it
recorded (``data/official_gps_ap.json``).

- Geodesics: a toy mesh in DensePose's SMPL file layout (``SMPL_subdiv.mat``,
  ``SMPL_SUBDIV_TRANSFORM.mat``, ``Pdist_matrix.pkl``): an 8×8 (U, V) vertex grid on each of
  the chart's parts 1..4, distances = Euclidean distances on the vp_densepose template sheet, so
  both evaluators compute GPS with their own SMPL code (κ per coarse group of the part: 0.351
  for parts 1–2, 0.107 for parts 3–4).
- Ground truth: ``base`` is the set as generated (2 of its 14 persons have no DensePose data);
  ``mixed`` changes it: image 2's person and both of image 6's are given a large area, image 3's
  a small one (images whose persons are all out of the medium / large range), image 4 loses its
  person (an image without ground truth), every box moves by a fraction of a pixel, and a person
  without DensePose data is added over image 7's first person (box IoU > 0.8 with it).
- Predictions (seeded): per person 0, 1 or 2 detections (a missing person, duplicates) with
  jittered quarter-pixel boxes and chart maps of random quality, detections over the persons
  without DensePose data, 0–2 extra boxes per image (one image with 23 detections in some sets:
  the 20-detection cap), scores rounded to one decimal (ties).
"""

import copy
import json
import os
import pickle

import numpy as np
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, Instances
from pycocotools.coco import COCO
from scipy.io import savemat

from vision_plugins.data.densepose import load_densepose_coco_json
from vision_plugins.data.synthetic import ensure_generated
from vision_plugins.data.synthetic.densepose import chart_to_template
from vision_plugins.densepose_uv.heads import DensePoseUVOutput
from vision_plugins.evaluation.densepose import DensePoseGPSEvaluator, SMPLGeodesics

__all__ = [
    "CASES",
    "HAND_CASES",
    "KEYS",
    "MESH_FILES",
    "case_dataset",
    "case_predictions",
    "hand_case_coco",
    "our_results",
    "write_toy_mesh",
]

KEYS = ("AP", "AP50", "AP75", "APm", "APl")
# (ground truth variant, prediction seed)
CASES = [("base", s) for s in range(4)] + [("mixed", s) for s in range(6)]
MESH_FILES = ("SMPL_subdiv.mat", "SMPL_SUBDIV_TRANSFORM.mat", "Pdist_matrix.pkl")
MAP_SIZE = 28


def write_toy_mesh(directory) -> list:
    """The toy mesh's three files in ``directory``; returns their paths (``MESH_FILES`` order)."""
    grid = (np.arange(8) + 0.5) / 8
    uu, vv = np.meshgrid(grid, grid)
    parts = np.repeat(np.arange(1, 5), uu.size)
    u, v = np.tile(uu.ravel(), 4), np.tile(vv.ravel(), 4)
    paths = [os.path.join(str(directory), f) for f in MESH_FILES]
    savemat(paths[0], {"U_subdiv": u[None], "V_subdiv": v[None], "Part_ID_subdiv": parts[None]})
    savemat(paths[1], {"index": np.arange(1, len(parts) + 1)[None]})
    x, y = chart_to_template(parts, u, v)
    hi, lo = np.tril_indices(len(parts), -1)  # row hi (hi - 1) / 2 + lo
    packed = np.hypot(x[hi] - x[lo], y[hi] - y[lo])[:, None]
    with open(paths[2], "wb") as f:
        pickle.dump({"Pdist_matrix": packed}, f)
    return paths


def _mixed(data, rng):
    anns = [a for a in data["annotations"] if a["image_id"] != 4]
    for a in anns:
        if a["image_id"] in (2, 6):
            a["area"] = float(a["area"] * 5)
        elif a["image_id"] == 3:
            a["area"] = 900.0
        x, y, w, h = a["bbox"]
        dx, dy = rng.uniform(-0.45, 0.45, 2)
        a["bbox"] = [x + dx, y + dy, w + rng.uniform(-0.45, 0.45), h + rng.uniform(-0.45, 0.45)]
    first = next(a for a in anns if a["image_id"] == 7)
    x, y, w, h = first["bbox"]
    extra = {k: first[k] for k in ("image_id", "category_id", "iscrowd", "segmentation")}
    extra.update(id=100, bbox=[x + 1.0, y + 0.5, w - 1.0, h], area=float(first["area"] * 0.95))
    data["annotations"] = anns + [extra]
    return data


def case_dataset(variant: str, directory):
    """``(json path, image root)`` of a ground truth variant written to ``directory``."""
    json_file, image_root = ensure_generated("vp_densepose_val", num_images=8)
    with open(json_file) as f:
        data = json.load(f)
    if variant == "mixed":
        data = _mixed(copy.deepcopy(data), np.random.default_rng(1234))
    path = os.path.join(str(directory), f"vp_densepose_val_{variant}.json")
    with open(path, "w") as f:
        json.dump(data, f)
    return path, image_root


def _chart_maps(rng, quality):
    """Chart maps of a body filling its box, degraded by ``quality`` in [0, 1] (1 = clean)."""
    c = (np.arange(MAP_SIZE) + 0.5) / MAP_SIZE * 2
    col = np.clip(np.floor(c), 0, 1)
    part = (1 + col[None, :] + 2 * col[:, None]).astype(int)
    noise = 1.0 - quality
    fine = np.eye(5)[part].transpose(2, 0, 1) * 4 + rng.normal(0, 3 * noise, (5,) + part.shape)
    coarse = np.eye(3)[1 + col[:, None].repeat(MAP_SIZE, 1).astype(int)].transpose(2, 0, 1) * 4
    coarse = coarse + rng.normal(0, 2.5 * noise, coarse.shape)
    u = (c - col)[None, :].repeat(MAP_SIZE, 0) + rng.normal(0, 0.3 * noise, part.shape)
    v = (c - col)[:, None].repeat(MAP_SIZE, 1) + rng.normal(0, 0.3 * noise, part.shape)
    u5, v5 = np.repeat(u[None], 5, 0), np.repeat(v[None], 5, 0)
    return [torch.as_tensor(a, dtype=torch.float32) for a in (coarse, fine, u5, v5)]


def _box(rng, x, y, w, h, jitter, size):
    box = np.array([x, y, x + w, y + h]) + rng.normal(0, jitter, 4) * [w, h, w, h]
    box = np.clip(np.round(box * 4) / 4, 0, size)  # quarter pixels: exact in float32
    box[2:] = np.maximum(box[2:], box[:2] + 2)
    return box.tolist()


def case_predictions(json_file, seed):
    """``[(image_id, image (h, w), Instances)]`` of a seeded prediction set."""
    rng = np.random.default_rng(seed)
    with open(json_file) as f:
        data = json.load(f)
    out = []
    crowded = data["images"][rng.integers(len(data["images"]))]["id"] if seed % 2 else None
    for img in data["images"]:
        hw = (img["height"], img["width"])
        boxes, maps = [], []
        for a in [a for a in data["annotations"] if a["image_id"] == img["id"]]:
            n = rng.choice(3, p=[0.15, 0.6, 0.25])
            for _ in range(n):
                jitter = rng.choice([0.005, 0.03, 0.08])
                boxes.append(_box(rng, *a["bbox"], jitter, img["width"]))
                maps.append(_chart_maps(rng, rng.uniform(0.0, 1.0)))
        extra = 23 - len(boxes) if img["id"] == crowded else rng.integers(0, 3)
        for _ in range(extra):
            w, h = rng.uniform(15, 45), rng.uniform(30, 90)
            x, y = rng.uniform(0, img["width"] - w), rng.uniform(0, img["height"] - h)
            boxes.append(_box(rng, x, y, w, h, 0.0, img["width"]))
            maps.append(_chart_maps(rng, rng.uniform(0.0, 1.0)))
        inst = Instances(hw)
        inst.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
        scores = np.round(rng.uniform(0.05, 1.0, len(boxes)), 1)
        inst.scores = torch.tensor(scores, dtype=torch.float32)
        inst.pred_classes = torch.zeros(len(boxes), dtype=torch.long)
        if maps:
            stacked = [torch.stack(m) for m in zip(*maps)]
        else:
            stacked = [torch.zeros(0, c, MAP_SIZE, MAP_SIZE) for c in (3, 5, 5, 5)]
        inst.pred_densepose = DensePoseUVOutput(*stacked)
        out.append((img["id"], hw, inst))
    return out


def our_results(json_file, image_root, predictions, mesh_paths):
    """``{"densepose_gps": {AP...}, "densepose_gpsm": {...}}`` of DensePoseGPSEvaluator."""
    name = f"vp_test_gps_case_{abs(hash(json_file))}"
    DatasetCatalog.register(name, lambda: load_densepose_coco_json(json_file, image_root, name))
    MetadataCatalog.get(name).set(json_file=json_file)
    try:
        evaluator = DensePoseGPSEvaluator(name, SMPLGeodesics(*mesh_paths), distributed=False)
        evaluator.reset()
        for image_id, _, inst in predictions:
            evaluator.process([{"image_id": image_id}], [{"instances": inst}])
        results = evaluator.evaluate()
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    return {k: results[k] for k in ("densepose_gps", "densepose_gpsm")}


def _person(ann_id, image_id, box, densepose=True, area=None):
    ann = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "iscrowd": 0,
        "bbox": box,
        "area": float(area if area is not None else box[2] * box[3]),
    }
    if densepose:
        ann.update(dp_x=[128.0], dp_y=[128.0], dp_I=[1], dp_U=[0.5], dp_V=[0.5])
    return ann


# One case per matching rule where COCO's keypoint matching gives another AP. ``gps``: GPS of
# (person id, detection index), 0 when absent; ``expected``: upstream's (AP, AP50, AP75, APm,
# APl) x 100; ``coco_matching``: what COCO's matching (our evaluator before) gave.
HAND_CASES = {
    # Image 1: a person found with GPS 0.97. Image 2: only a person without DensePose data and
    # a detection elsewhere (box IoU 0); image 3: no person, one detection; both stray
    # detections score higher. Upstream ignores every detection of an image whose persons are
    # all ignored (or that has none): AP 100; COCO: two false positives first, AP 33.3.
    "all_persons_ignored": {
        "images": 3,
        "persons": [_person(1, 1, [10, 10, 40, 80]), _person(2, 2, [10, 10, 40, 80], False)],
        "detections": [
            (1, 0.8, [10, 10, 40, 80]),
            (2, 0.9, [70, 10, 40, 80]),
            (3, 0.95, [70, 10, 40, 80]),
        ],
        "gps": {(1, 0): 0.97},
        "expected": [100, 100, 100, 100, -100],
        "coco_matching": [100 / 3, 100 / 3, 100 / 3, 100 / 3, -100],
    },
    # A person (GPS 0.72 with the only detection) and a person without DensePose data whose
    # box the detection overlaps more (box IoU 1.0 vs 0.95). Unmatched at the last threshold,
    # the detection takes the ignored person in the second pass and is ignored at every
    # threshold, also where it matched the regular person: AP 0. Matching it to the ignored
    # person in the first pass at every threshold (our evaluator before) kept the match up to
    # 0.70: AP 50.
    "second_pass_ignores": {
        "images": 1,
        "persons": [_person(1, 1, [10, 10, 40, 80]), _person(2, 1, [11, 10, 40, 80], False)],
        "detections": [(1, 0.9, [11, 10, 40, 80])],
        "gps": {(1, 0): 0.72},
        "expected": [0, 0, 0, 0, -100],
        "coco_matching": [50, 100, 0, 50, -100],
    },
    # A medium person A (GPS 0.3) and a large one C (GPS 0.72); the detection has A's box (box
    # IoU 1.0; 0.95 with C). Medium range (C ignored): up to 0.70 it matches C; unmatched at
    # 0.95, the second pass gives it A's flag (regular) at every threshold, so its matches to C
    # count: APm 50 (COCO: 0). Large range (A ignored): it matches C up to 0.70, the second
    # pass gives it A's flag (ignored) everywhere: APl 0 (COCO: 50). All: recall 1/2 up to 0.70.
    "second_pass_copies_flag": {
        "images": 1,
        "persons": [_person(1, 1, [10, 10, 40, 80]), _person(2, 1, [11, 10, 40, 80], area=20000)],
        "detections": [(1, 0.9, [10, 10, 40, 80])],
        "gps": {(1, 0): 0.3, (2, 0): 0.72},
        "expected": [5 * 51 / 101 / 10 * 100, 51 / 101 * 100, 0, 50, 0],
        "coco_matching": [5 * 51 / 101 / 10 * 100, 51 / 101 * 100, 0, 0, 50],
    },
}


def hand_case_coco(case):
    """``(COCO ground truth, detection dicts with pred_index)`` of a hand case (128² images)."""
    coco_gt = COCO()
    coco_gt.dataset = {
        "images": [{"id": i, "height": 128, "width": 128} for i in range(1, case["images"] + 1)],
        "annotations": copy.deepcopy(case["persons"]),
        "categories": [{"id": 1, "name": "person"}],
    }
    coco_gt.createIndex()
    detections = [
        {"image_id": i, "category_id": 1, "score": s, "bbox": list(b), "pred_index": n}
        for n, (i, s, b) in enumerate(case["detections"])
    ]
    return coco_gt, detections
