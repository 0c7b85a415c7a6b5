"""detectron2's fast COCO evaluation (``COCOeval_opt``) against pycocotools' ``COCOeval``.

``COCOeval_opt`` (detectron2/evaluation/fast_eval_api.py) hands per-image matching and
accumulation to ``detectron2._C`` (``InstanceAnnotation``, ``COCOevalEvaluateImages``,
``COCOevalAccumulate``). Here ``detectron2._C`` is vision_plugins' pure-Python stand-in
(vision_plugins/compat/d2_C_standin.py); with a compiled detectron2 it is the C++ extension.
The equality tests run against either; the tests of the stand-in's error messages are skipped
for a compiled ``_C``.

Exactness: the stand-in runs pycocotools' own ``evaluateImg``/``accumulate``, so ``stats``,
``precision``, ``recall`` and ``scores`` must be bit-identical. detectron2's C++ ``Accumulate``
(layers/csrc/cocoeval/cocoeval.cpp) computes precision as ``tp / (tp + fp)`` where pycocotools
computes ``tp / (tp + fp + np.spacing(1))``. In float64 these differ only for ``tp + fp == 1``:
``1 / (1 + 2**-52) == 0.9999999999999998`` in pycocotools, 1.0 in C++. Against a compiled
``_C`` that single value is mapped to 1.0 before the exact ``precision`` comparison and
``stats`` (means over precision) may differ by 1e-15; ``recall``/``scores`` stay exact.
"""

import contextlib
import copy
import io
import json
import math
import re
from collections import Counter, defaultdict

import numpy as np
import pytest
import torch
from detectron2 import _C
from detectron2.evaluation.fast_eval_api import COCOeval_opt
from pycocotools import mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

STANDIN = bool(getattr(_C, "VISION_PLUGINS_STANDIN", False))
standin_only = pytest.mark.skipif(
    not STANDIN,
    reason="detectron2._C is a compiled extension (no VISION_PLUGINS_STANDIN attribute); "
    "this test documents vision_plugins' pure-Python stand-in only",
)
# pycocotools' precision after one valid detection that is a true positive (see module docstring)
PYCOCO_ONE_OVER_ONE = 1.0 / (1.0 + np.spacing(1))

H, W = 240, 320
CATEGORIES = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 7, "name": "dog"}]
CAT_IDS = [c["id"] for c in CATEGORIES]
# box side ranges; GT areas (octagon masks, 0.875 * w * h) land in all of COCO's small/medium/large
SIDES = {"small": (8.0, 30.0), "medium": (34.0, 90.0), "large": (110.0, 180.0)}
NUM_KP = 17  # pycocotools' default kpt_oks_sigmas are for the 17 COCO person keypoints


# ------------------------------------------------------------------ synthetic data


def _q(values):
    """Quantise to 1/4 pixel: exact in float32, so Instances round-trips them unchanged."""
    return [float(v) for v in np.round(np.asarray(values, dtype=np.float64) * 4) / 4]


def _score(rng):
    return float(rng.integers(1, 21)) / 20  # a 0.05 grid: many tied scores


def _random_box(rng, size):
    lo, hi = SIDES[size]
    w, h = rng.uniform(lo, hi, size=2)
    return _q([rng.uniform(0, W - w), rng.uniform(0, H - h), w, h])


def _jitter(rng, box):
    x, y, w, h = box
    s = rng.choice([0.03, 0.1, 0.25])  # good, fair and poor localisation
    x = float(np.clip(x + rng.normal(0, s * w), 0, W - 2))
    y = float(np.clip(y + rng.normal(0, s * h), 0, H - 2))
    w = float(np.clip(w * np.exp(rng.normal(0, s)), 2, W - x))
    h = float(np.clip(h * np.exp(rng.normal(0, s)), 2, H - y))
    return _q([x, y, w, h])


def _octagon(box):
    x, y, w, h = box
    return [
        *(x + w / 4, y, x + 3 * w / 4, y, x + w, y + h / 4, x + w, y + 3 * h / 4),
        *(x + 3 * w / 4, y + h, x + w / 4, y + h, x, y + 3 * h / 4, x, y + h / 4),
    ]


def _compressed_rle(polygon):
    rle = mask_util.merge(mask_util.frPyObjects([polygon], H, W))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def uncompressed_rle(mask):
    """COCO's crowd format: column-major run lengths, starting with a run of zeros."""
    flat = np.asarray(mask, dtype=np.uint8).ravel(order="F")
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    counts = np.diff(bounds).tolist()
    return {"counts": ([0] if flat[0] else []) + counts, "size": list(mask.shape)}


class _Builder:
    def __init__(self):
        self.images, self.annotations, self.dets = [], [], []

    def image(self, image_id):
        name = f"{image_id:06d}.jpg"
        self.images.append({"id": image_id, "height": H, "width": W, "file_name": name})

    def _add_gt(self, ann):
        ann["id"] = len(self.annotations) + 1
        self.annotations.append(ann)
        return ann

    def gt(self, image_id, cat, box):
        poly = _octagon(box)
        area = float(mask_util.area(_compressed_rle(poly)))
        return self._add_gt(
            {"image_id": image_id, "category_id": cat, "bbox": box, "segmentation": [poly]}
            | {"area": area, "iscrowd": 0}
        )

    def crowd_gt(self, image_id, cat, mask):
        rle = mask_util.encode(np.asfortranarray(mask))
        return self._add_gt(
            {"image_id": image_id, "category_id": cat, "segmentation": uncompressed_rle(mask)}
            | {"bbox": mask_util.toBbox(rle).tolist(), "area": float(mask.sum()), "iscrowd": 1}
        )

    def det(self, image_id, cat, box, score, **extra):
        det = {"image_id": image_id, "category_id": cat, "bbox": box, "score": score}
        if not extra:
            det["segmentation"] = _compressed_rle(_octagon(box))
        det.update(extra)
        self.dets.append(det)
        return det

    def dataset(self):
        return {"images": self.images, "annotations": self.annotations}, self.dets


def make_detection_case(seed):
    """GT dict (with ``categories``) and bbox+segm detections; see the comments per image."""
    rng = np.random.default_rng(seed)
    b = _Builder()

    # image 3: all categories and sizes; the first GT gets a perfect detection with score 1.0,
    # b.dets[0] (the one the perturbation test moves); two false positives
    b.image(3)
    for j, size in enumerate(["large", "medium", "small", "medium", "large", "small"]):
        box, cat = _random_box(rng, size), CAT_IDS[j % 3]
        b.gt(3, cat, box)
        if j == 0:
            b.det(3, cat, box, 1.0)
        elif rng.random() < 0.8:
            b.det(3, cat, _jitter(rng, box), _score(rng))
    for _ in range(2):
        b.det(3, int(rng.choice(CAT_IDS)), _random_box(rng, "medium"), _score(rng))

    # image 7: a crowd region (iscrowd=1, uncompressed RLE) with a regular person inside it,
    # detections on the crowd (matched to it, hence ignored) and a car
    b.image(7)
    crowd = np.zeros((H, W), dtype=np.uint8)
    crowd[20:140, 30:200] = 1
    crowd[100:180, 150:260] = 1
    b.crowd_gt(7, 1, crowd)
    for box in [_q([60, 40, 40, 70]), _random_box(rng, "small"), _random_box(rng, "medium")]:
        b.gt(7, 1, box)
        b.det(7, 1, _jitter(rng, box), _score(rng))
    for _ in range(4):
        box = _q([rng.uniform(30, 170), rng.uniform(20, 110), *rng.uniform(10, 30, size=2)])
        b.det(7, 1, box, _score(rng))
    box = _random_box(rng, "large")
    b.gt(7, 3, box)
    b.det(7, 3, _jitter(rng, box), _score(rng))

    # image 11: no GT, only false positives
    b.image(11)
    for _ in range(4):
        b.det(11, int(rng.choice(CAT_IDS)), _random_box(rng, "small"), _score(rng))

    # image 20: GT, no detections
    b.image(20)
    for size in ["small", "medium", "large"]:
        b.gt(20, int(rng.choice(CAT_IDS)), _random_box(rng, size))

    # image 21: 20 persons and 150 person detections: more than maxDets=100 for one
    # (image, category), so the 100-detection cut drops true positives
    b.image(21)
    for j in range(20):
        box = _random_box(rng, "small" if j % 2 else "medium")
        b.gt(21, 1, box)
        b.det(21, 1, _jitter(rng, box), _score(rng))
    for _ in range(130):
        b.det(21, 1, _random_box(rng, "small"), _score(rng))

    # image 42: tied scores within the image, an exact duplicate (same box and score), a
    # lower-scored duplicate and false positives tied with true positives
    b.image(42)
    tp = []
    for size, cat in [("medium", 1), ("large", 3), ("small", 7), ("medium", 7)]:
        box = _random_box(rng, size)
        b.gt(42, cat, box)
        tp.append(b.det(42, cat, _jitter(rng, box), 0.5))
    b.det(42, tp[0]["category_id"], list(tp[0]["bbox"]), 0.5)
    b.det(42, tp[1]["category_id"], list(tp[1]["bbox"]), 0.3)
    b.det(42, 7, _random_box(rng, "small"), 0.5)
    b.det(42, 3, _random_box(rng, "medium"), 0.5)

    # image 50: neither GT nor detections
    b.image(50)

    gt, dets = b.dataset()
    gt["categories"] = copy.deepcopy(CATEGORIES)
    return gt, dets


def make_keypoint_case(seed):
    rng = np.random.default_rng(seed)
    person = {"id": 1, "name": "person", "keypoints": [f"kp{i}" for i in range(NUM_KP)]}
    b = _Builder()

    def gt(image_id, box, visible=True, crowd=False):
        x, y, w, h = box
        xs, ys = rng.uniform(x, x + w, NUM_KP), rng.uniform(y, y + h, NUM_KP)
        if visible:
            v = rng.choice([0, 1, 2], NUM_KP, p=[0.25, 0.25, 0.5])
        else:  # num_keypoints == 0: pycocotools ignores this GT
            v = np.zeros(NUM_KP, dtype=np.int64)
        kps = np.stack([np.where(v > 0, np.round(xs, 2), 0), np.where(v > 0, np.round(ys, 2), 0)])
        b._add_gt(
            {"image_id": image_id, "category_id": 1, "bbox": box, "area": round(0.6 * w * h, 2)}
            | {"iscrowd": int(crowd), "num_keypoints": int((v > 0).sum())}
            | {"keypoints": np.concatenate([kps.T, v[:, None]], axis=1).ravel().tolist()}
        )
        return xs, ys

    def det(image_id, xs, ys, noise, score):
        xs = np.round(xs + rng.normal(0, noise, NUM_KP), 2)
        ys = np.round(ys + rng.normal(0, noise, NUM_KP), 2)
        kps = np.stack([xs, ys, np.ones(NUM_KP)], axis=1).ravel().tolist()
        return b.det(image_id, 1, None, score, keypoints=kps)

    def false_positive(image_id):
        x, y, w, h = _random_box(rng, "medium")
        det(image_id, rng.uniform(x, x + w, NUM_KP), rng.uniform(y, y + h, NUM_KP), 0, _score(rng))

    # image 1: visible persons, one with no labelled keypoint; a duplicate with the same score
    b.image(1)
    first = None
    for size, visible in [("large", True), ("medium", True), ("medium", False), ("small", True)]:
        xs, ys = gt(1, _random_box(rng, size), visible)
        d = det(1, xs, ys, rng.choice([1.0, 4.0, 12.0]), _score(rng))
        first = first or d
    b.det(1, 1, None, first["score"], keypoints=list(first["keypoints"]))
    # image 2: two persons and a crowd, with two detections on the crowd
    b.image(2)
    for size in ["medium", "large"]:
        xs, ys = gt(2, _random_box(rng, size))
        det(2, xs, ys, rng.choice([1.0, 4.0, 12.0]), _score(rng))
    gt(2, _q([20, 20, 150, 100]), visible=False, crowd=True)
    for _ in range(2):
        det(2, rng.uniform(20, 170, NUM_KP), rng.uniform(20, 120, NUM_KP), 0, _score(rng))
    # image 3: no GT; image 4: no detections
    b.image(3)
    for _ in range(3):
        false_positive(3)
    b.image(4)
    for size in ["medium", "large"]:
        gt(4, _random_box(rng, size))
    # image 5: 6 persons and 30 detections, beyond keypoint maxDets=20
    b.image(5)
    for j in range(6):
        xs, ys = gt(5, _random_box(rng, "medium" if j % 2 else "small"))
        det(5, xs, ys, rng.choice([1.0, 4.0, 12.0]), _score(rng))
    for _ in range(24):
        false_positive(5)
    # image 6: empty
    b.image(6)

    gt_dict, dets = b.dataset()
    for d in dets:
        del d["bbox"]  # pycocotools' loadRes derives bbox and area from the keypoints
    gt_dict["categories"] = [person]
    return gt_dict, dets


def results_for(dets, iou_type):
    """Detections as the result list for one iouType (segm without bbox, as detectron2 does)."""
    drop = {"bbox": ["segmentation"], "segm": ["bbox"], "keypoints": []}[iou_type]
    return [{k: v for k, v in d.items() if k not in drop} for d in dets]


# ------------------------------------------------------------------ evaluation helpers


def run_coco_eval(cls, gt_dict, results, iou_type, params=None, summarize=True):
    """Run ``cls`` (COCOeval or COCOeval_opt) on fresh COCO objects (COCOeval mutates them)."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt_dict)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        coco_eval = cls(coco_gt, coco_dt, iou_type)
        for key, value in (params or {}).items():  # before evaluate(): COCOeval_opt needs that
            setattr(coco_eval.params, key, copy.deepcopy(value))
        coco_eval.evaluate()
        coco_eval.accumulate()
        if summarize:
            coco_eval.summarize()
    return coco_eval


def _as_compiled_precision(precision):
    return precision if STANDIN else np.where(precision == PYCOCO_ONE_OVER_ONE, 1.0, precision)


def assert_same_eval(ref, opt, stats=True):
    """``opt`` (COCOeval_opt) reproduces ``ref`` (pycocotools' COCOeval) exactly."""
    assert list(opt.eval["counts"]) == list(ref.eval["counts"])
    for key in ("recall", "scores"):
        assert np.array_equal(
            opt.eval[key], ref.eval[key]
        ), f"eval[{key!r}] differs at {np.argwhere(opt.eval[key] != ref.eval[key])[:5].tolist()}"
    expected = _as_compiled_precision(ref.eval["precision"])
    assert np.array_equal(
        opt.eval["precision"], expected
    ), f"eval['precision'] differs at {np.argwhere(opt.eval['precision'] != expected)[:5]}"
    if not stats:
        return
    assert len(opt.stats) == len(ref.stats)
    if STANDIN:
        assert opt.stats.tolist() == ref.stats.tolist()
    else:
        np.testing.assert_allclose(opt.stats, ref.stats, rtol=0, atol=1e-15)


CASES = {"detection": make_detection_case, "keypoints": make_keypoint_case}
SCENARIOS = {
    "bbox": ("detection", "bbox", {}),
    "bbox-maxDets-1-5-1000": ("detection", "bbox", {"maxDets": [1, 5, 1000]}),
    "bbox-maxDets-unsorted-50-2-20": ("detection", "bbox", {"maxDets": [50, 2, 20]}),
    "bbox-useCats0": ("detection", "bbox", {"useCats": 0}),
    "bbox-imgIds-subset": ("detection", "bbox", {"imgIds": [50, 7, 21, 11]}),
    "segm": ("detection", "segm", {}),
    "segm-maxDets-1-5-1000": ("detection", "segm", {"maxDets": [1, 5, 1000]}),
    "segm-useCats0": ("detection", "segm", {"useCats": 0}),
    "keypoints": ("keypoints", "keypoints", {}),
}


def _run_pair(scenario, seed):
    case, iou_type, params = SCENARIOS[scenario]
    gt, dets = CASES[case](seed)
    results = results_for(dets, iou_type)
    ref = run_coco_eval(COCOeval, gt, results, iou_type, params)
    opt = run_coco_eval(COCOeval_opt, gt, results, iou_type, params)
    return ref, opt


# ------------------------------------------------------------------ COCOeval_opt == COCOeval


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_cocoeval_opt_equals_pycocotools(scenario, seed):
    ref, opt = _run_pair(scenario, seed)
    assert_same_eval(ref, opt)
    # the data are not degenerate: AP50 (at the largest maxDets) is neither -1 nor 0 nor 1
    assert 0 < ref.stats[1] < 1


DEGENERATE = {  # the parameter edge cases of detectron2's tests/data/test_coco_evaluation.py
    "no-iouThrs": {"iouThrs": []},
    "no-recThrs": {"recThrs": []},
    "one-maxDet": {"maxDets": [1]},
    "no-areaRng": {"areaRng": [], "areaRngLbl": []},
    "catIds-subset": {"catIds": [7, 3]},
    "no-imgIds": {"imgIds": []},
    "no-gt-annotations": {},
}


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
@pytest.mark.parametrize("name", list(DEGENERATE))
def test_cocoeval_opt_equals_pycocotools_degenerate_params(name, iou_type):
    """eval arrays only: summarize() needs 3 maxDets and the default area ranges."""
    gt, dets = make_detection_case(0)
    if name == "no-gt-annotations":
        gt["annotations"] = []
    results = results_for(dets, iou_type)
    params = DEGENERATE[name]
    ref = run_coco_eval(COCOeval, gt, results, iou_type, params, summarize=False)
    opt = run_coco_eval(COCOeval_opt, gt, results, iou_type, params, summarize=False)
    assert_same_eval(ref, opt, stats=False)


def test_synthetic_cases_cover_the_edge_cases():
    gt, dets = make_detection_case(0)
    gt_images = {a["image_id"] for a in gt["annotations"]}
    det_images = {d["image_id"] for d in dets}
    all_images = {i["id"] for i in gt["images"]}
    assert all_images - gt_images == {11, 50} and all_images - det_images == {20, 50}
    crowds = [a for a in gt["annotations"] if a["iscrowd"]]
    assert len(crowds) == 1 and isinstance(crowds[0]["segmentation"]["counts"], list)
    rle = mask_util.frPyObjects(crowds[0]["segmentation"], H, W)
    assert int(mask_util.decode(rle).sum()) == crowds[0]["area"]  # the RLE helper is right
    per_image_cat = Counter((d["image_id"], d["category_id"]) for d in dets)
    assert max(per_image_cat.values()) == 150
    boxes_scores = Counter((d["image_id"], tuple(d["bbox"]), d["score"]) for d in dets)
    assert max(boxes_scores.values()) >= 2  # an exact duplicate
    assert max(Counter(d["score"] for d in dets).values()) >= 5  # tied scores
    areas = [a["area"] for a in gt["annotations"] if not a["iscrowd"]]
    assert min(areas) < 32**2 and max(areas) > 96**2
    assert any(32**2 < a < 96**2 for a in areas)

    kp_gt, kp_dets = make_keypoint_case(0)
    assert any(a["num_keypoints"] == 0 and not a["iscrowd"] for a in kp_gt["annotations"])
    assert any(a["iscrowd"] for a in kp_gt["annotations"])
    assert max(Counter(d["image_id"] for d in kp_dets).values()) > 20


def test_more_than_100_detections_per_image_change_the_numbers():
    """maxDets=1000 keeps the true positives that the default cut at 100 drops."""
    ref_100, _ = _run_pair("bbox", 0)
    ref_1000, opt_1000 = _run_pair("bbox-maxDets-1-5-1000", 0)
    assert ref_1000.stats[8] > ref_100.stats[8]  # AR@1000 > AR@100
    assert opt_1000.stats[8] == pytest.approx(ref_1000.stats[8], abs=1e-15)


def test_comparison_detects_a_perturbed_detection():
    """The equality check can fail: move the perfect detection of image 3 by half its width."""
    gt, dets = make_detection_case(0)
    assert dets[0]["image_id"] == 3 and dets[0]["score"] == 1.0
    moved = copy.deepcopy(dets)
    x, y, w, h = moved[0]["bbox"]
    moved[0]["bbox"] = [x + w / 2, y, w, h]  # IoU 1/3 with its GT: a false positive
    ref_moved = run_coco_eval(COCOeval, gt, results_for(moved, "bbox"), "bbox")
    opt = run_coco_eval(COCOeval_opt, gt, results_for(dets, "bbox"), "bbox")
    assert ref_moved.stats[0] != opt.stats[0]
    assert not np.array_equal(ref_moved.eval["precision"], opt.eval["precision"])
    with pytest.raises(AssertionError):
        assert_same_eval(ref_moved, opt)
    assert_same_eval(ref_moved, run_coco_eval(COCOeval_opt, gt, results_for(moved, "bbox"), "bbox"))


# ------------------------------------------------------------------ COCOEvaluator end to end


def _metric_equal(got, expected):
    if math.isnan(expected):
        return math.isnan(got)
    return got == expected if STANDIN else got == pytest.approx(expected, rel=0, abs=1e-12)


def test_coco_evaluator_fast_impl_matches_pycocotools(tmp_path, monkeypatch):
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.data.datasets import register_coco_instances
    from detectron2.evaluation import COCOEvaluator
    from detectron2.structures import Boxes, Instances

    gt, dets = make_detection_case(seed=3)
    json_file = tmp_path / "instances.json"
    json_file.write_text(json.dumps(gt))
    name = f"vision_plugins_test_coco_standin_{tmp_path.name}"
    register_coco_instances(name, {}, str(json_file), str(tmp_path))
    calls = Counter()
    for fn_name in ("COCOevalEvaluateImages", "COCOevalAccumulate"):

        def spy(*args, _fn=getattr(_C, fn_name), _name=fn_name):
            calls[_name] += 1
            return _fn(*args)

        monkeypatch.setattr(_C, fn_name, spy)
    try:
        records = DatasetCatalog.get(name)  # also sets thing_classes and the category-id mapping
        to_contiguous = MetadataCatalog.get(name).thing_dataset_id_to_contiguous_id
        evaluator = COCOEvaluator(name)  # default arguments: use_fast_impl=True
        assert evaluator._use_fast_impl
        evaluator.reset()
        per_image = defaultdict(list)
        for d in dets:
            per_image[d["image_id"]].append(d)
        ref_results = []  # the same predictions in COCO result format, built independently
        for record in records:
            image_dets = per_image[record["image_id"]]
            xywh = np.array([d["bbox"] for d in image_dets], dtype=np.float32).reshape(-1, 4)
            xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
            scores = np.array([d["score"] for d in image_dets], dtype=np.float32)
            masks = np.zeros((len(image_dets), H, W), dtype=bool)
            for i, d in enumerate(image_dets):
                masks[i] = mask_util.decode(d["segmentation"]).astype(bool)
            instances = Instances((record["height"], record["width"]))
            instances.pred_boxes = Boxes(torch.from_numpy(xyxy))
            instances.scores = torch.from_numpy(scores)
            classes = [to_contiguous[d["category_id"]] for d in image_dets]
            instances.pred_classes = torch.tensor(classes, dtype=torch.int64)
            instances.pred_masks = torch.from_numpy(masks)
            evaluator.process([record], [{"instances": instances}])
            for d, score in zip(image_dets, scores.tolist()):  # float32 scores, as evaluated
                ref_results.append(d | {"score": score})
        results = evaluator.evaluate()
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)

    assert calls == {"COCOevalEvaluateImages": 2, "COCOevalAccumulate": 2}  # the fast path
    assert set(results) == {"bbox", "segm"}
    metrics = ["AP", "AP50", "AP75", "APs", "APm", "APl"]
    for task in ("bbox", "segm"):
        ref = run_coco_eval(COCOeval, gt, results_for(ref_results, task), task)
        assert 0 < results[task]["AP"] < 100
        for i, metric in enumerate(metrics):
            expected = float(ref.stats[i] * 100) if ref.stats[i] >= 0 else float("nan")
            assert _metric_equal(results[task][metric], expected), (task, metric)
        precision = _as_compiled_precision(ref.eval["precision"])
        for k, cat in enumerate(CATEGORIES):
            p = precision[:, :, k, 0, -1]
            expected = float(np.mean(p[p > -1]) * 100) if (p > -1).any() else float("nan")
            assert _metric_equal(results[task]["AP-" + cat["name"]], expected), (task, cat)


# ------------------------------------------------------------------ unsupported compiled ops


def test_version_functions_return_strings():
    assert isinstance(_C.get_compiler_version(), str)
    assert isinstance(_C.get_cuda_version(), str)


def test_deform_conv_on_cpu_uses_torchvision_without_reaching_C(monkeypatch):
    """detectron2's DeformConv never calls ``_C`` for CPU tensors: it runs torchvision."""
    from detectron2.layers import DeformConv
    from torchvision.ops import deform_conv2d

    def unreachable(*args, **kwargs):
        raise AssertionError("detectron2._C.deform_conv_forward reached for a CPU tensor")

    monkeypatch.setattr(_C, "deform_conv_forward", unreachable)
    torch.manual_seed(0)
    conv = DeformConv(2, 3, kernel_size=3, padding=1)
    x, offset = torch.randn(1, 2, 6, 7), torch.randn(1, 18, 6, 7)
    expected = deform_conv2d(x, offset, conv.weight, padding=(1, 1))
    assert torch.equal(conv(x, offset), expected)


def test_cpu_deform_conv_variants_without_torchvision_equivalent_raise_in_detectron2():
    """deformable_groups > 1 and the modulated variant raise in detectron2 itself on CPU,
    before ``_C`` (so the message is detectron2's, not the stand-in's)."""
    from detectron2.layers import DeformConv, ModulatedDeformConv

    x = torch.randn(1, 2, 6, 7)
    with pytest.raises(NotImplementedError, match="not supported on CPUs"):
        DeformConv(2, 3, 3, padding=1, deformable_groups=2)(x, torch.zeros(1, 36, 6, 7))
    with pytest.raises(NotImplementedError, match="not supported on CPUs"):
        ModulatedDeformConv(2, 3, 3, padding=1)(x, torch.zeros(1, 18, 6, 7), torch.ones(1, 9, 6, 7))


@standin_only
@pytest.mark.parametrize(
    "op",
    [
        "deform_conv_forward",
        "deform_conv_backward_input",
        "deform_conv_backward_filter",
        "modulated_deform_conv_forward",
        "modulated_deform_conv_backward",
    ],
)
def test_standin_deform_conv_ops_name_torchvision(op):
    """What detectron2's DeformConv reaches for CUDA tensors."""
    with pytest.raises(NotImplementedError, match=re.escape("torchvision.ops.deform_conv2d")):
        getattr(_C, op)(torch.zeros(1, 2, 4, 4))


ROTATED = torch.tensor([[20.0, 20.0, 10.0, 6.0, 30.0], [21.0, 20.0, 10.0, 6.0, 45.0]])


@standin_only
def test_standin_nms_rotated_names_torchvision():
    from detectron2.layers import nms_rotated

    with pytest.raises(NotImplementedError, match=re.escape("torchvision.ops.nms")):
        nms_rotated(ROTATED, torch.tensor([0.9, 0.8]), 0.5)


@standin_only
def test_standin_pairwise_iou_rotated_names_torchvision():
    from detectron2.layers.rotated_boxes import pairwise_iou_rotated as layers_iou
    from detectron2.structures import RotatedBoxes, pairwise_iou_rotated

    with pytest.raises(NotImplementedError, match=re.escape("torchvision.ops.box_iou")):
        pairwise_iou_rotated(RotatedBoxes(ROTATED), RotatedBoxes(ROTATED))
    with pytest.raises(NotImplementedError, match=re.escape("torchvision.ops.box_iou")):
        layers_iou(ROTATED, ROTATED)


@standin_only
def test_standin_roi_align_rotated_names_torchvision():
    from detectron2.layers import ROIAlignRotated

    pooler = ROIAlignRotated((2, 2), spatial_scale=1.0, sampling_ratio=2)
    rois = torch.tensor([[0.0, 20.0, 20.0, 10.0, 6.0, 30.0]])
    with pytest.raises(NotImplementedError, match=re.escape("torchvision.ops.roi_align")):
        pooler(torch.randn(1, 3, 40, 40), rois)
