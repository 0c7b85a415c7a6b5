"""WIDER FACE AP on hand-made cases: perfect = 1, a miss, a false positive, an ignored face."""

import numpy as np
import pytest

from vision_plugins.evaluation.widerface import (
    box_overlaps_plus_one,
    landmark_nme,
    voc_ap,
    wider_ap,
)

GT = np.array([[0, 0, 9, 9], [20, 20, 39, 39], [50, 50, 59, 59]], float)


def _pred(rows):
    return np.array(rows, float).reshape(-1, 5)


def test_plus_one_overlaps():
    # 10x10 px boxes (0..9 inclusive) shifted by 5 px: 5*10 / (100 + 100 - 50)
    iou = box_overlaps_plus_one([[0, 0, 9, 9]], [[5, 0, 14, 9]])
    assert iou[0, 0] == pytest.approx(50 / 150)


def test_perfect_detections_give_ap_1():
    pred = _pred([[*b, s] for b, s in zip(GT, (0.9, 0.8, 0.7))])
    ap = wider_ap([pred], [(GT, ["easy", "easy", "easy"])])
    assert ap == pytest.approx({"easy": 1.0, "medium": 1.0, "hard": 1.0}, abs=1e-3)


def test_a_miss_and_a_false_positive():
    # faces 0 and 1 found; face 2 missed -> recall 2/3 at precision 1
    pred = _pred([[*GT[0], 0.9], [*GT[1], 0.8]])
    ap = wider_ap([pred], [(GT, ["easy"] * 3)])
    assert ap["easy"] == pytest.approx(2 / 3, abs=2e-3)
    # a false positive scored above everything: precision 1/2, 2/3, 3/4 at recall 1/3, 2/3, 1;
    # all-point interpolation takes the best precision to the right: 3/4 everywhere
    pred = _pred([[100, 100, 120, 120, 0.95], *[[*b, s] for b, s in zip(GT, (0.9, 0.8, 0.7))]])
    ap = wider_ap([pred], [(GT, ["easy"] * 3)])
    assert ap["easy"] == pytest.approx(0.75, abs=2e-3)
    # ... and scored below everything it costs nothing
    pred[0, 4] = 0.5
    assert wider_ap([pred], [(GT, ["easy"] * 3)])["easy"] == pytest.approx(1.0, abs=2e-3)


def test_detections_of_ignored_faces_count_neither_way():
    # face 2 is "hard": at the easy level it is ignored, its detection is not a false positive
    pred = _pred([[*GT[2], 0.95], [*GT[0], 0.9], [*GT[1], 0.8]])
    ap = wider_ap([pred], [(GT, ["easy", "easy", "hard"])])
    assert ap["easy"] == pytest.approx(1.0, abs=2e-3)
    assert ap["hard"] == pytest.approx(1.0, abs=2e-3)
    # medium counts easy + medium faces only; missing the hard face costs nothing there
    ap = wider_ap([pred[1:]], [(GT, ["easy", "medium", "hard"])])
    assert ap["medium"] == pytest.approx(1.0, abs=2e-3)
    assert ap["hard"] == pytest.approx(2 / 3, abs=2e-3)


def test_voc_ap_all_point():
    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == pytest.approx(0.75)


def test_landmark_nme():
    gt_pts = np.array([[2, 3], [8, 3], [5, 5], [3, 7], [7, 7]], float)  # inter-ocular 6 px
    pred = {"boxes": GT[:1], "scores": np.array([0.9]), "points": gt_pts[None] + [0.6, 0.0]}
    nme, n = landmark_nme([pred], [(GT[:1], [gt_pts])])
    assert n == 1 and nme == pytest.approx(100 * 0.6 / 6)
