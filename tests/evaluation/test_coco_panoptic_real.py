"""COCO panoptic on real files: panopticapi's sample (2 COCO val2017 images, 133 categories, at
../shared/real/coco_panoptic_samples, see ../shared/real/README.md).

- ``register_panoptic_dataset`` on the real json / PNGs: dataset dicts, metadata and semantic
  labels against hand-checked facts of the two images (segments, things / stuff, crowd, void).
- PQ / SQ / RQ (all, things, stuff) of perturbed predictions through ``build_evaluator`` with the
  UPSNet COCO config (detectron2's ``COCOPanopticEvaluator``) equal
  ``panopticapi.evaluation.pq_compute`` run directly on prediction files written here (PNG ids
  ``R + 256 G + 256² B``, dataset category ids), to 1e-9; simple cases also equal hand values.
"""

import contextlib
import copy
import io
import json
import os

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import COCOPanopticEvaluator
from PIL import Image

from vision_plugins.data.panoptic import (
    IGNORE_LABEL,
    read_panoptic_ids,
    register_panoptic_dataset,
    semantic_from_panoptic,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = os.path.normpath(os.path.join(REPO, "..", "shared", "real", "coco_panoptic_samples"))
GT_JSON = os.path.join(SAMPLES, "panoptic_examples.json")
PAN_ROOT = os.path.join(SAMPLES, "panoptic_examples")
IMAGE_ROOT = os.path.join(SAMPLES, "input_images")
CONFIG = os.path.join(REPO, "configs", "UPSNet", "upsnet_R_50_FPN_coco.yaml")
NAME = "vp_test_coco_panoptic_real"

pytestmark = pytest.mark.skipif(
    not os.path.isdir(SAMPLES),
    reason=f"real COCO panoptic sample not found at {SAMPLES} (../shared/real is absent)",
)

# Hand-checked from panoptic_examples.json and the PNGs (dataset category ids).
FACTS = {
    142238: {
        "size": (427, 640),
        "segments": 18,
        "things": 15,
        "stuff": 3,
        "crowd": {1: 1},  # one crowd segment, person
        "void_pixels": 2712,
        "categories": {1: 14, 37: 1, 184: 1, 187: 1, 193: 1},
        "semantic_labels": {36, 39, 45, 53, 85, IGNORE_LABEL},
    },
    439180: {
        "size": (360, 640),
        "segments": 32,
        "things": 28,
        "stuff": 4,
        "crowd": {1: 1, 19: 1},  # person and horse crowds
        "void_pixels": 7189,
        "categories": {1: 14, 8: 2, 19: 12, 125: 1, 184: 1, 187: 1, 193: 1},
        "semantic_labels": {10, 36, 39, 45, 53, 60, 70, IGNORE_LABEL},
    },
}
# dataset id -> contiguous id (things 0..79 and stuff 0..52 in the json's category order)
THING_IDS = {1: 0, 8: 7, 19: 17, 37: 32}
STUFF_IDS = {125: 10, 184: 36, 187: 39, 193: 45}
NUM_STUFF = 53
CAR, COW, PLAYINGFIELD = 3, 21, 145  # categories absent from the ground truth
GRASS, GRAVEL, SKY, TREE = 193, 125, 187, 184
KEYS = ("PQ", "SQ", "RQ", "PQ_th", "SQ_th", "RQ_th", "PQ_st", "SQ_st", "RQ_st")


@pytest.fixture(scope="module")
def gt_json():
    with open(GT_JSON) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def dataset():
    register_panoptic_dataset(NAME, IMAGE_ROOT, PAN_ROOT, GT_JSON)
    try:
        yield DatasetCatalog.get(NAME)
    finally:
        DatasetCatalog.remove(NAME)
        MetadataCatalog.remove(NAME)


# ------------------------------------------------------------------------------ the loader


def test_metadata_of_the_133_categories(dataset, gt_json):
    meta = MetadataCatalog.get(NAME)
    names = {c["id"]: c["name"] for c in gt_json["categories"]}
    assert len(gt_json["categories"]) == 133
    assert len(meta.thing_classes) == 80 and meta.num_stuff == NUM_STUFF
    assert meta.thing_classes[0] == "person" and meta.thing_classes[-1] == "toothbrush"
    # semantic label space: stuff first, then things
    assert len(meta.stuff_classes) == 133
    assert meta.stuff_classes[NUM_STUFF] == "person" and meta.stuff_classes[0] == "banner"
    for dataset_id, contiguous in THING_IDS.items():
        assert meta.thing_dataset_id_to_contiguous_id[dataset_id] == contiguous
        assert meta.thing_classes[contiguous] == names[dataset_id]
    for dataset_id, contiguous in STUFF_IDS.items():
        assert meta.stuff_dataset_id_to_contiguous_id[dataset_id] == contiguous
        assert meta.stuff_classes[contiguous] == names[dataset_id]
    assert names[CAR] == "car" and names[COW] == "cow" and names[PLAYINGFIELD] == "playingfield"
    assert meta.evaluator_type == "coco_panoptic_seg" and meta.ignore_label == IGNORE_LABEL
    assert meta.panoptic_json == GT_JSON and meta.panoptic_root == PAN_ROOT


def test_dataset_dicts_of_the_real_files(dataset):
    assert [d["image_id"] for d in dataset] == [142238, 439180]
    for d in dataset:
        facts = FACTS[d["image_id"]]
        stem = f"{d['image_id']:012d}"
        assert d["file_name"] == os.path.join(IMAGE_ROOT, stem + ".jpg")
        assert d["pan_seg_file_name"] == os.path.join(PAN_ROOT, stem + ".png")
        assert os.path.isfile(d["file_name"]) and os.path.isfile(d["pan_seg_file_name"])
        assert (d["height"], d["width"]) == facts["size"]
        segs = d["segments_info"]
        assert len(segs) == facts["segments"]
        assert sum(s["isthing"] for s in segs) == facts["things"]
        assert sum(not s["isthing"] for s in segs) == facts["stuff"]
        crowd = [s for s in segs if s["iscrowd"]]
        assert all(s["isthing"] for s in crowd)
        to_dataset = {
            True: {v: k for k, v in THING_IDS.items()},
            False: {v: k for k, v in STUFF_IDS.items()},
        }
        crowd_cats = [to_dataset[True][s["category_id"]] for s in crowd]
        assert {c: crowd_cats.count(c) for c in crowd_cats} == facts["crowd"]
        cats = [to_dataset[s["isthing"]][s["category_id"]] for s in segs]
        assert {c: cats.count(c) for c in cats} == facts["categories"]
        # ids of the PNG (R + 256 G + 256^2 B): exactly the json's segments plus void 0, and
        # the json's areas are their pixel counts
        ids = read_panoptic_ids(d["pan_seg_file_name"])
        assert ids.shape == facts["size"]
        values, counts = np.unique(ids, return_counts=True)
        assert set(values.tolist()) == {s["id"] for s in segs} | {0}
        area = dict(zip(values.tolist(), counts.tolist()))
        assert all(area[s["id"]] == s["area"] for s in segs)
        assert area[0] == facts["void_pixels"]


def test_semantic_labels_of_the_real_files(dataset):
    for d in dataset:
        facts = FACTS[d["image_id"]]
        ids = read_panoptic_ids(d["pan_seg_file_name"])
        sem = semantic_from_panoptic(ids, d["segments_info"], NUM_STUFF)
        assert sem.dtype == np.uint8 and sem.shape == facts["size"]
        assert set(np.unique(sem).tolist()) == facts["semantic_labels"]
        assert (sem == IGNORE_LABEL).sum() == facts["void_pixels"]
        assert (sem[ids == 0] == IGNORE_LABEL).all()
        for s in d["segments_info"]:  # crowd regions keep their class
            label = s["category_id"] + (NUM_STUFF if s["isthing"] else 0)
            assert (sem[ids == s["id"]] == label).all()
        # person = semantic 53 + 0: all person pixels, crowd included
        person = sum(
            s["area"] for s in d["segments_info"] if s["isthing"] and s["category_id"] == 0
        )
        assert (sem == NUM_STUFF).sum() == person


# --------------------------------------------------------------------------- PQ evaluation


def _ground_truth(gt_json):
    """``{image_id: (ids, [{"id", "category_id"}])}`` in dataset category ids, from the files."""
    out = {}
    for ann in gt_json["annotations"]:
        ids = read_panoptic_ids(os.path.join(PAN_ROOT, ann["file_name"]))
        segs = [{"id": s["id"], "category_id": s["category_id"]} for s in ann["segments_info"]]
        out[ann["image_id"]] = (ids, segs)
    return out


def _perturb(case, gt, gt_json):
    """Predictions of ``case`` (dataset category ids), and the hand values of simple cases."""
    pred = copy.deepcopy(gt)
    a, b = 142238, 439180
    ids_a, segs_a = pred[a]
    ids_b, segs_b = pred[b]
    info = {ann["image_id"]: ann["segments_info"] for ann in gt_json["annotations"]}

    def seg_id(image, category, k=0, crowd=False):
        """The ``k``-th largest (non-)crowd ground-truth segment of ``category``."""
        cand = [s for s in info[image] if s["category_id"] == category and s["iscrowd"] == crowd]
        return sorted(cand, key=lambda s: -s["area"])[k]["id"]

    hand = None
    # categories with ground truth: things person, truck, horse, sports ball; stuff gravel,
    # tree, sky, grass. Every untouched segment has IoU 1.
    if case == "perfect":  # the crowd segments are predicted as segments too (then ignored)
        hand = dict.fromkeys(KEYS, 100.0)
    elif case == "segments_removed":  # 2 persons and the gravel become void
        for pid in (seg_id(a, 1, 0), seg_id(a, 1, 5)):
            ids_a[ids_a == pid] = 0
        ids_b[ids_b == seg_id(b, GRAVEL)] = 0
        person = 24 / 25  # 26 non-crowd persons: TP 24, FN 2
        hand = {"PQ_th": 100 * (3 + person) / 4, "RQ_th": 100 * (3 + person) / 4,
                "SQ_th": 100.0, "PQ_st": 75.0, "RQ_st": 75.0, "SQ_st": 75.0,
                "PQ": 100 * (6 + person) / 8, "SQ": 87.5, "RQ": 100 * (6 + person) / 8}  # fmt: skip
    elif case == "split_merged":
        # sky of image a split 70 / 30 in row-major pixel order (a TP of IoU 0.7 + an FP); the
        # largest and the smallest person of image a merged into one (IoU 4076 / 4229: a TP, and
        # an FN), the two largest horses of image b too (IoU 5333 / 9841: a TP, and an FN)
        sky = seg_id(a, SKY)
        ys, xs = np.nonzero(ids_a == sky)
        cut = int(0.7 * len(ys))
        ids_a[ys[cut:], xs[cut:]] = 1001
        segs_a.append({"id": 1001, "category_id": SKY})
        big, small = seg_id(a, 1, 0), seg_id(a, 1, -1)
        ids_a[ids_a == small] = big
        h1, h2 = seg_id(b, 19, 0), seg_id(b, 19, 1)
        ids_b[ids_b == h2] = h1
    elif case == "wrong_category":  # a horse predicted as cow, image a's grass as playingfield
        horse = seg_id(b, 19, 0)
        next(s for s in segs_b if s["id"] == horse)["category_id"] = COW
        grass = seg_id(a, GRASS)
        next(s for s in segs_a if s["id"] == grass)["category_id"] = PLAYINGFIELD
        horse_pq = 10 / 10.5  # 11 non-crowd horses: TP 10, FN 1; cow: FP 1
        grass_pq = 1 / 1.5  # 2 grass: TP 1, FN 1; playingfield: FP 1
        hand = {"PQ_th": 100 * (3 + horse_pq) / 5, "SQ_th": 80.0,
                "RQ_th": 100 * (3 + horse_pq) / 5, "PQ_st": 100 * (3 + grass_pq) / 5,
                "SQ_st": 80.0, "RQ_st": 100 * (3 + grass_pq) / 5,
                "PQ": 100 * (6 + horse_pq + grass_pq) / 10, "SQ": 80.0,
                "RQ": 100 * (6 + horse_pq + grass_pq) / 10}  # fmt: skip
    elif case == "void_added":
        # image b: a car segment exactly on the ground truth's void pixels (ignored: > 50 %
        # void); image a: the top 20 rows predicted void (smaller IoUs, nothing unmatched)
        void_b = gt[b][0] == 0
        ids_b[void_b] = 1002
        segs_b.append({"id": 1002, "category_id": CAR})
        ids_a[:20] = 0
        top, area = gt[a][0][:20], {s["id"]: s["area"] for s in info[a]}
        assert set(np.unique(top).tolist()) == {seg_id(a, TREE), seg_id(a, SKY)}
        # tree and sky: IoU 1 in image b, (area - top rows) / area in image a
        sq = [(2 - (top == i).sum() / area[i]) / 2 for i in (seg_id(a, TREE), seg_id(a, SKY))]
        hand = {"RQ": 100.0, "RQ_th": 100.0, "RQ_st": 100.0, "PQ_th": 100.0, "SQ_th": 100.0,
                "SQ_st": 100 * (2 + sum(sq)) / 4, "PQ_st": 100 * (2 + sum(sq)) / 4,
                "SQ": 100 * (6 + sum(sq)) / 8, "PQ": 100 * (6 + sum(sq)) / 8}  # fmt: skip
    elif case == "crowd_overlap":
        # image a's person crowd region predicted as two persons (ignored: inside a crowd of
        # their class) and a car (an FP: no car crowd); image b's horse crowd as a person (FP)
        crowd = seg_id(a, 1, crowd=True)
        ys, xs = np.nonzero(ids_a == crowd)
        third = len(ys) // 3
        for k, (new, cat) in enumerate(((1003, 1), (1004, 1), (1005, CAR))):
            sl = slice(k * third, (k + 1) * third if k < 2 else len(ys))
            ids_a[ys[sl], xs[sl]] = new
            segs_a.append({"id": new, "category_id": cat})
        horse_crowd = seg_id(b, 19, crowd=True)
        next(s for s in segs_b if s["id"] == horse_crowd)["category_id"] = 1
        person = 26 / 26.5  # 26 non-crowd persons: TP 26 (IoU 1), FP 1; car: FP 1
        hand = {"PQ_th": 100 * (3 + person) / 5, "SQ_th": 80.0, "RQ_th": 100 * (3 + person) / 5,
                "PQ_st": 100.0, "SQ_st": 100.0, "RQ_st": 100.0, "PQ": 100 * (7 + person) / 9,
                "SQ": 800 / 9, "RQ": 100 * (7 + person) / 9}  # fmt: skip
    else:
        raise ValueError(case)
    for image in pred:  # segments must be exactly the ids present (panopticapi's check)
        ids, segs = pred[image]
        present = set(np.unique(ids).tolist()) - {0}
        pred[image] = (ids, [s for s in segs if s["id"] in present])
        assert present == {s["id"] for s in pred[image][1]}
    return pred, hand


def _write_png(path, ids):
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 256**2], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(path)


def _panopticapi(pred, gt_json, folder):
    """``pq_compute`` on prediction files written here, in COCOPanopticEvaluator's units."""
    from panopticapi.evaluation import pq_compute

    os.makedirs(folder)
    annotations = []
    for ann in gt_json["annotations"]:
        ids, segs = pred[ann["image_id"]]
        _write_png(os.path.join(folder, ann["file_name"]), ids)
        annotations.append(
            {"image_id": ann["image_id"], "file_name": ann["file_name"], "segments_info": segs}
        )
    pred_json = os.path.join(folder, "predictions.json")
    with open(pred_json, "w") as f:
        json.dump({**gt_json, "annotations": annotations}, f)
    with contextlib.redirect_stdout(io.StringIO()):
        res = pq_compute(GT_JSON, pred_json, gt_folder=PAN_ROOT, pred_folder=folder)
    return {
        f"{metric}{suffix}": 100 * res[group][metric.lower()]
        for group, suffix in (("All", ""), ("Things", "_th"), ("Stuff", "_st"))
        for metric in ("PQ", "SQ", "RQ")
    }


def _build_evaluator(output_folder):
    from vision_plugins.engine.defaults import setup_cfg
    from vision_plugins.evaluation import build_evaluator

    cfg = setup_cfg(CONFIG, ["MODEL.DEVICE", "cpu"])
    evaluator = build_evaluator(cfg, NAME, output_folder)
    names = [type(e).__name__ for e in evaluator._evaluators]
    # no instances json registered: PQ, and the UPSNet spec's mIoU
    assert names == ["COCOPanopticEvaluator", "PanopticSemSegEvaluator"]
    return evaluator


def _evaluate(dataset, pred, output_folder):
    """PQ through ``build_evaluator`` -> COCOPanopticEvaluator, the predictions given as a
    panoptic model returns them: contiguous category ids and ``isthing``."""
    evaluator = _build_evaluator(output_folder)
    panoptic = evaluator._evaluators[0]
    assert isinstance(panoptic, COCOPanopticEvaluator)
    meta = MetadataCatalog.get(NAME)
    things, stuff = meta.thing_dataset_id_to_contiguous_id, meta.stuff_dataset_id_to_contiguous_id
    panoptic.reset()
    for d in dataset:
        ids, segs = pred[d["image_id"]]
        info = [
            {
                "id": s["id"],
                "category_id": things.get(s["category_id"], stuff.get(s["category_id"])),
                "isthing": s["category_id"] in things,
            }
            for s in segs
        ]
        panoptic.process([d], [{"panoptic_seg": (torch.as_tensor(ids.astype(np.int32)), info)}])
    return panoptic.evaluate()["panoptic_seg"]


def test_build_evaluator_on_perfect_predictions(dataset, gt_json, tmp_path):
    """The whole evaluator of the UPSNet config: PQ 100 and the spec's mIoU 100 (semantic ground
    truth from the real PNGs, 133 classes)."""
    pred, _ = _perturb("perfect", _ground_truth(gt_json), gt_json)
    evaluator = _build_evaluator(str(tmp_path))
    evaluator.reset()
    for d in dataset:
        ids, _ = pred[d["image_id"]]
        info = [
            {"id": s["id"], "category_id": s["category_id"], "isthing": s["isthing"]}
            for s in d["segments_info"]
        ]
        sem = torch.as_tensor(
            semantic_from_panoptic(ids, d["segments_info"], NUM_STUFF).astype(np.int64)
        )
        sem[sem == IGNORE_LABEL] = 0  # void: not scored
        one_hot = torch.zeros(133, *sem.shape, dtype=torch.uint8).scatter_(0, sem[None], 1)
        evaluator.process(
            [d],
            [{"panoptic_seg": (torch.as_tensor(ids.astype(np.int32)), info), "sem_seg": one_hot}],
        )
    results = evaluator.evaluate()
    assert all(results["panoptic_seg"][k] == pytest.approx(100.0, abs=1e-9) for k in KEYS)
    assert results["sem_seg"]["mIoU"] == pytest.approx(100.0, abs=1e-9)
    assert results["sem_seg"]["IoU-person"] == results["sem_seg"]["IoU-gravel"] == 100.0


CASES = [
    "perfect",
    "segments_removed",
    "split_merged",
    "wrong_category",
    "void_added",
    "crowd_overlap",
]


@pytest.mark.parametrize("case", CASES)
def test_pq_equals_panopticapi(dataset, gt_json, tmp_path, case):
    pred, hand = _perturb(case, _ground_truth(gt_json), gt_json)
    ours = _evaluate(dataset, pred, str(tmp_path / "d2"))
    ref = _panopticapi(pred, gt_json, str(tmp_path / "ref"))
    for key in KEYS:
        assert ours[key] == pytest.approx(ref[key], rel=0, abs=1e-9), (case, key, ours, ref)
    if hand is not None:
        for key, value in hand.items():
            assert ref[key] == pytest.approx(value, rel=0, abs=1e-9), (case, key, ref)
    if case != "perfect":
        assert ref["PQ"] < 100
