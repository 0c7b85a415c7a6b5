"""PCKh against hand-computed values; MPII json loading and flip pairs."""

import json

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Instances

from vision_plugins.data.mpii import (
    MPII_FLIP_INDICES,
    MPII_KEYPOINT_FLIP_MAP,
    MPII_KEYPOINT_NAMES,
    load_mpii_json,
    register_mpii_json,
)
from vision_plugins.engine import setup_cfg
from vision_plugins.evaluation import PCKhEvaluator, build_evaluator, compute_pckh

K = 16


def test_compute_pckh_threshold_is_inclusive_and_invisible_joints_are_excluded():
    # head box 80 x 60 -> diagonal 100 -> head size 0.6 * 100 = 60 px -> @0.5: 30 px, @0.1: 6 px
    gt = np.zeros((1, 4, 2))
    pred = np.array([[[29, 0], [0, 30], [31, 0], [500, 500]]])
    visible = np.array([[True, True, True, False]])
    correct, counted = compute_pckh(pred, gt, visible, [[0, 0, 80, 60]], threshold=0.5)
    assert correct.tolist() == [[True, True, False, False]]
    assert counted.tolist() == [[True, True, True, False]]
    pred = np.array([[[5.5, 0], [0, 6], [6.5, 0], [500, 500]]])
    correct, _ = compute_pckh(pred, gt, visible, [[0, 0, 80, 60]], threshold=0.1)
    assert correct.tolist() == [[True, True, False, False]]


def test_zero_size_head_is_a_clear_error():
    with pytest.raises(ValueError, match=r"zero size for sample\(s\) \[1\]"):
        compute_pckh(np.zeros((2, 1, 2)), np.zeros((2, 1, 2)), np.ones((2, 1), bool),
                     [[0, 0, 8, 6], [5, 5, 5, 5]])  # fmt: skip


def test_flip_pairs_are_symmetric():
    flip = np.array(MPII_FLIP_INDICES)
    assert (flip[flip] == np.arange(K)).all()
    names = MPII_KEYPOINT_NAMES
    for j, f in enumerate(flip):
        if names[j].startswith("left_"):
            assert names[f] == "right_" + names[j][5:]
        elif not names[j].startswith("right_"):
            assert f == j
    # the order used by the official code (data/MPII/ref.py flipped_parts)
    assert list(flip) == [5, 4, 3, 2, 1, 0, 6, 7, 8, 9, 15, 14, 13, 12, 11, 10]
    assert len(MPII_KEYPOINT_FLIP_MAP) == 6


def _entry(i, vis=None):
    joints = [[10.0 + j, 20.0 + i] for j in range(K)]
    return {"image": f"{i:03d}.png", "joints": joints, "joints_vis": vis or [1] * K,
            "center": [30.0, 40.0], "scale": 0.5, "head_box": [0, 0, 8, 6],
            "height": 100, "width": 80}  # fmt: skip


@pytest.fixture
def mpii_dataset(tmp_path):
    vis = [1] * K
    vis[3] = 0  # left_hip not annotated in sample 1
    entries = [_entry(0), _entry(1, vis), _entry(2)]
    path = tmp_path / "mpii.json"
    path.write_text(json.dumps(entries))
    name = "vp_test_mpii"
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    register_mpii_json(name, str(path), str(tmp_path))
    return name, entries


def test_loader(mpii_dataset):
    name, entries = mpii_dataset
    dicts = DatasetCatalog.get(name)
    assert [d["image_id"] for d in dicts] == [0, 1, 2]
    ann = dicts[1]["annotations"][0]
    assert ann["bbox"] == [-20.0, -10.0, 80.0, 90.0]  # 200 * 0.5 = 100 px square at the centre
    kps = np.reshape(ann["keypoints"], (K, 3))
    assert kps[3, 2] == 0 and kps[0].tolist() == [10.0, 21.0, 2.0]
    assert MetadataCatalog.get(name).evaluator_type == "pckh"


def test_loader_errors_name_file_entry_and_key(tmp_path):
    bad = _entry(0)
    del bad["head_box"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([_entry(1), bad]))
    with pytest.raises(KeyError, match=r"bad.json, entry 1: missing key\(s\) \['head_box'\]"):
        load_mpii_json(str(path), str(tmp_path))
    short = _entry(0)
    short["joints"] = short["joints"][:15]
    path.write_text(json.dumps([short]))
    with pytest.raises(ValueError, match="entry 0: 'joints' must be 16"):
        load_mpii_json(str(path), str(tmp_path))


def _prediction(points, scores=(1.0,)):
    inst = Instances((100, 80))
    kp = torch.as_tensor(np.asarray(points, np.float32)).reshape(len(scores), K, 2)
    inst.pred_keypoints = torch.cat([kp, torch.ones(len(scores), K, 1)], dim=2)
    inst.scores = torch.tensor(scores)
    return {"instances": inst}


def test_evaluator_on_hand_made_predictions(mpii_dataset, tmp_path):
    name, entries = mpii_dataset
    cfg = setup_cfg(None, ["OUTPUT_DIR", str(tmp_path)])
    evaluator = build_evaluator(cfg, name)
    assert isinstance(evaluator, PCKhEvaluator)
    evaluator.reset()
    gt = [np.array(e["joints"]) for e in entries]
    # sample 0: every joint off by 2 px (< 3): all correct
    p0 = gt[0] + [2.0, 0.0]
    # sample 1: ankles (0, 5) off by 4 px (> 3), left_hip (3, invisible) off by 100 px
    p1 = gt[1].copy()
    p1[[0, 5]] += [0.0, 4.0]
    p1[3] += 100.0
    # sample 2: two instances; the higher-scoring one is exact, the other far away
    p2 = np.stack([gt[2] + 40.0, gt[2]])
    evaluator.process([{"image_id": 0}], [_prediction(p0)])
    evaluator.process([{"image_id": 1}, {"image_id": 2}],
                      [_prediction(p1), _prediction(p2, scores=(0.2, 0.9))])  # fmt: skip
    res = evaluator.evaluate()["pckh"]
    names = list(MPII_KEYPOINT_NAMES)
    assert res["PCKh-right_ankle"] == pytest.approx(200 / 3)
    assert res["PCKh-left_ankle"] == pytest.approx(200 / 3)
    assert res["PCKh-left_hip"] == 100.0  # 2 visible samples, both right
    assert res["PCKh-head_top"] == 100.0
    assert res["PCKh-Ankle"] == pytest.approx(200 / 3)
    # mean over the 14 joints other than pelvis/thorax, weighted by visible counts: 3 samples
    # x 14 joints - sample 1's invisible left_hip = 41 counted, of which 2 (sample 1's ankles) wrong
    visible = 3 * 14 - 1
    assert res["PCKh@0.5"] == pytest.approx(100.0 * (visible - 2) / visible)
    # @0.1 (head size 6 px -> radius 0.6 px): sample 0's 14 joints (2 px off) are wrong too
    assert res["PCKh@0.1"] == pytest.approx(100.0 * (visible - 2 - 14) / visible)
    assert set(f"PCKh-{n}" for n in names) <= set(res)


def test_missing_prediction_counts_as_wrong(mpii_dataset, tmp_path):
    name, entries = mpii_dataset
    evaluator = PCKhEvaluator(name, distributed=False)
    for i, e in enumerate(entries):
        out = _prediction(np.array(e["joints"]))
        if i == 2:
            out["instances"] = out["instances"][[]]  # no detection
        evaluator.process([{"image_id": i}], [out])
    res = evaluator.evaluate()["pckh"]
    assert res["PCKh-head_top"] == pytest.approx(200 / 3)
