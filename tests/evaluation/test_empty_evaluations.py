"""Empty evaluations give defined numbers: AP 0 where the ground truth has objects and the model
predicts nothing (detectron2: nan), nan with a warning where there is no ground truth (keypoint
AP: detectron2 ends in a bare StopIteration)."""

import json
import logging
import math

import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances
from detectron2.structures import Boxes, Instances

from vision_plugins.engine import setup_cfg
from vision_plugins.evaluation import build_evaluator

CONFIG = "configs/Mask-RCNN/keypoint_rcnn_R_18_FPN_synth_people.yaml"


def _register(tmp_path, name, annotations):
    images = [{"id": i, "file_name": f"{i}.png", "height": 100, "width": 100} for i in (1, 2)]
    cats = [
        {"id": 1, "name": "person", "keypoints": [f"k{i}" for i in range(17)], "skeleton": []},
        {"id": 2, "name": "dog"},
    ]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": cats}))
    if name in DatasetCatalog:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    register_coco_instances(name, {}, str(path), str(tmp_path))
    DatasetCatalog.get(name)  # sets thing_classes
    return name


def _ann(i, image_id, cat, box, keypoints=None):
    x, y, w, h = box
    ann = {"id": i, "image_id": image_id, "category_id": cat, "bbox": box, "area": w * h,
           "iscrowd": 0, "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]}  # fmt: skip
    if keypoints:
        ann.update(keypoints=keypoints, num_keypoints=sum(v > 0 for v in keypoints[2::3]))
    return ann


def _evaluate(cfg, name, tmp_path, outputs):
    evaluator = build_evaluator(cfg, name, str(tmp_path / "eval"))
    evaluator.reset()
    for image_id, inst in outputs.items():
        evaluator.process(
            [{"image_id": image_id, "height": 100, "width": 100}], [{"instances": inst}]
        )
    return evaluator.evaluate()


def _empty():
    inst = Instances((100, 100))
    inst.pred_boxes = Boxes(torch.zeros(0, 4))
    inst.scores = torch.zeros(0)
    inst.pred_classes = torch.zeros(0, dtype=torch.int64)
    return inst


def test_no_prediction_on_objects_is_ap_zero(tmp_path, caplog):
    kps = [10, 10, 2] * 17
    name = _register(
        tmp_path,
        "vp_test_empty_predictions",
        [_ann(1, 1, 1, [10, 10, 50, 60], kps), _ann(2, 2, 2, [5, 5, 10, 10])],
    )
    cfg = setup_cfg(CONFIG, ["MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS", "17"])
    with caplog.at_level(logging.WARNING):
        results = _evaluate(cfg, name, tmp_path, {1: _empty(), 2: _empty()})
    bbox = results["bbox"]
    # a 50x60 person (area 3000: medium) and a 10x10 dog (small); no large object
    assert bbox["AP"] == bbox["AP50"] == bbox["AP75"] == bbox["APs"] == bbox["APm"] == 0.0
    assert math.isnan(bbox["APl"])
    assert bbox["AP-person"] == 0.0 and bbox["AP-dog"] == 0.0
    assert "no bbox prediction" in caplog.text


def test_no_ground_truth_is_nan_with_a_warning_not_a_crash(tmp_path, caplog):
    name = _register(tmp_path, "vp_test_no_annotations", [])
    cfg = setup_cfg(CONFIG, ["MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS", "17"])
    inst = Instances((100, 100))
    inst.pred_boxes = Boxes(torch.tensor([[10.0, 10.0, 60.0, 70.0]]))
    inst.scores = torch.tensor([0.9])
    inst.pred_classes = torch.tensor([0])
    inst.pred_keypoints = torch.cat([torch.full((1, 17, 2), 20.0), torch.ones(1, 17, 1)], dim=2)
    with caplog.at_level(logging.WARNING):
        results = _evaluate(cfg, name, tmp_path, {1: inst, 2: _empty()})
    assert set(results) == {"bbox", "keypoints"}
    assert all(math.isnan(v) for v in results["keypoints"].values())
    assert all(math.isnan(v) for v in results["bbox"].values())
    assert "vp_test_no_annotations: no keypoints ground truth" in caplog.text


def test_ordinary_evaluation_is_unchanged(tmp_path):
    """With predictions and ground truth the numbers are detectron2's: a perfect box = AP 100."""
    name = _register(tmp_path, "vp_test_one_box", [_ann(1, 1, 2, [5, 5, 40, 40])])
    cfg = setup_cfg(CONFIG, ["MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS", "17"])
    inst = Instances((100, 100))
    inst.pred_boxes = Boxes(torch.tensor([[5.0, 5.0, 45.0, 45.0]]))
    inst.scores = torch.tensor([0.9])
    inst.pred_classes = torch.tensor([1])
    results = _evaluate(cfg, name, tmp_path, {1: inst, 2: _empty()})
    assert results["bbox"]["AP"] == pytest.approx(100.0)
