"""MaskScoreCOCOEvaluator: box AP ranks by ``scores``, mask AP by ``mask_scores`` (YOLACT++)."""

import json

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances
from detectron2.structures import Boxes, Instances

from vision_plugins.evaluation import MaskScoreCOCOEvaluator

NAME = "test_mask_scores_coco"
H = W = 40


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ms")
    images, anns = [], []
    for i in range(4):
        x = 4 + 5 * i
        images.append({"id": i, "file_name": f"{i}.png", "height": H, "width": W})
        anns.append({"id": i + 1, "image_id": i, "category_id": 1, "iscrowd": 0,
                     "bbox": [x, 5, 12, 14], "area": 168.0,
                     "segmentation": [[x, 5, x + 12, 5, x + 12, 19, x, 19]]})  # fmt: skip
    path = root / "gt.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 1, "name": "thing"}]}))  # fmt: skip
    if NAME in DatasetCatalog.list():
        DatasetCatalog.remove(NAME)
        MetadataCatalog.remove(NAME)
    register_coco_instances(NAME, {}, str(path), str(root))
    DatasetCatalog.get(NAME)  # loading sets the category id mapping the evaluator needs
    return anns


def _outputs(anns, with_mask_scores):
    """Per image: the right object (score 0.9, mask score 0.1) and a wrong one far away
    (score 0.5, mask score 0.9)."""
    pairs = []
    for a in anns:
        x, y, w, h = a["bbox"]
        boxes = torch.tensor([[x, y, x + w, y + h], [24.0, 24, 36, 38]])
        masks = torch.zeros(2, H, W, dtype=torch.bool)
        masks[0, y : y + h, x : x + w] = True
        masks[1, 24:38, 24:36] = True
        inst = Instances((H, W), pred_boxes=Boxes(boxes), pred_masks=masks)
        inst.scores = torch.tensor([0.9, 0.5])
        inst.pred_classes = torch.zeros(2, dtype=torch.long)
        if with_mask_scores:
            inst.mask_scores = torch.tensor([0.1, 0.9])
        pairs.append(({"image_id": a["image_id"]}, {"instances": inst}))
    return pairs


def _evaluate(pairs, tmp_path):
    ev = MaskScoreCOCOEvaluator(NAME, output_dir=str(tmp_path))
    ev.reset()
    for inp, out in pairs:
        ev.process([inp], [out])
    return ev.evaluate()


def test_mask_ap_uses_mask_scores(dataset, tmp_path):
    plain = _evaluate(_outputs(dataset, False), tmp_path)
    assert plain["bbox"]["AP"] == pytest.approx(100.0) and plain["segm"]["AP"] > 99
    rescored = _evaluate(_outputs(dataset, True), tmp_path)
    assert rescored["bbox"]["AP"] == pytest.approx(100.0)  # boxes still ranked by scores
    # masks ranked by mask_scores: every wrong mask comes first -> precision 1/2 .. 4/8
    assert rescored["segm"]["AP"] < 60
    assert np.isfinite(rescored["segm"]["AP"])
