"""GPS / GPSm AP with DensePose's own matching (detectron2 ``DensePoseCocoEval``).

- Hand-built cases, one per rule where COCO's keypoint matching (our evaluator before) gives
  another AP; GPS values are set per (person, detection) so only the matching is under test.
- The seeded cases of ``gps_cases`` against the numbers upstream's evaluator gave on them
  (``data/official_gps_ap.json``, recorded by ``test_official_gps_eval.py``).
"""

import json
import os

import numpy as np
import pytest

from tests.densepose_uv.gps_cases import (
    CASES,
    HAND_CASES,
    KEYS,
    case_dataset,
    case_predictions,
    hand_case_coco,
    our_results,
    write_toy_mesh,
)
from vision_plugins.evaluation import densepose as dp_eval

RECORDED = os.path.join(os.path.dirname(__file__), "data", "official_gps_ap.json")


def _gps_ap(monkeypatch, case):
    """GPS AP (×100: AP, AP50, AP75, APm, APl) of a hand case, GPS(person id, detection index)
    given by the case (0 when absent)."""
    coco_gt, detections = hand_case_coco(case)
    coco_dt = coco_gt.loadRes(detections)
    for ann in coco_gt.dataset["annotations"]:
        ann["num_keypoints"] = len(ann.get("dp_x", ()))
    predictions = [{"iuv": d["pred_index"]} for d in detections]
    gps = case["gps"]
    monkeypatch.setattr(dp_eval, "gps_score", lambda g, iuv, box, geo: gps.get((g["id"], iuv), 0))
    ev = dp_eval._GPSEval(coco_gt, coco_dt, predictions, None, use_mask=False)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return (100 * ev.stats[:5]).tolist()


@pytest.mark.parametrize("name", sorted(HAND_CASES))
def test_hand_case(name, monkeypatch):
    """Each case's docstring in ``gps_cases.HAND_CASES`` gives the rule, upstream's AP and the
    AP of COCO's keypoint matching (our evaluator before), which differs."""
    case = HAND_CASES[name]
    ap = _gps_ap(monkeypatch, case)
    assert ap == pytest.approx(case["expected"])
    assert not np.allclose(ap, case["coco_matching"])


@pytest.fixture(scope="module")
def recorded():
    with open(RECORDED) as f:
        return json.load(f)["cases"]


@pytest.mark.parametrize("variant,seed", CASES)
def test_same_ap_as_recorded_upstream(variant, seed, recorded, tmp_path):
    mesh = write_toy_mesh(tmp_path)
    json_file, image_root = case_dataset(variant, tmp_path)
    ours = our_results(json_file, image_root, case_predictions(json_file, seed), mesh)
    theirs = recorded[f"{variant}/{seed}"]
    for metric in ("densepose_gps", "densepose_gpsm"):
        got = np.array([ours[metric][k] for k in KEYS])
        expected = np.array([theirs[metric][k] for k in KEYS])
        assert got == pytest.approx(expected, abs=1e-6), metric


def test_integer_box_width_in_float32_as_upstream():
    """float32(100.7) - float32(0.7) rounds to 100 in float32 (upstream's XYWH conversion of the
    float32 boxes) but is 99.999997 in float64."""
    import torch

    from vision_plugins.evaluation.densepose_results import integer_box

    assert integer_box(torch.tensor([0.7, 0.7, 100.7, 100.7])) == (0, 0, 100, 100)
    assert integer_box([2.5, 3.5, 3.0, 3.6]) == (2, 3, 1, 1)  # at least one pixel
