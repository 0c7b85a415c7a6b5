"""PQ through detectron2's COCOPanopticEvaluator (panopticapi) and mIoU through
PanopticSemSegEvaluator on vp_panoptic: perfect predictions and hand-counted cases."""

import copy

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import COCOPanopticEvaluator

from vision_plugins.data.panoptic import (
    read_panoptic_ids,
    register_panoptic_dataset,
    semantic_from_panoptic,
)
from vision_plugins.data.synthetic import ensure_generated
from vision_plugins.engine.defaults import setup_cfg
from vision_plugins.evaluation import build_evaluator
from vision_plugins.evaluation.panoptic import PanopticSemSegEvaluator

NAME = "vp_test_panoptic_eval"


@pytest.fixture(scope="module")
def dataset():
    instances_json, image_root = ensure_generated("vp_panoptic_val", num_images=12)
    root = instances_json.rsplit("/", 1)[0]
    register_panoptic_dataset(
        NAME, image_root, f"{root}/panoptic", f"{root}/panoptic.json", instances_json
    )
    dicts = DatasetCatalog.get(NAME)
    yield dicts
    DatasetCatalog.remove(NAME)
    MetadataCatalog.remove(NAME)


def _gt_outputs(dicts):
    outputs = []
    for d in dicts:
        ids = torch.as_tensor(read_panoptic_ids(d["pan_seg_file_name"]).astype(np.int32))
        info = [
            {"id": s["id"], "category_id": s["category_id"], "isthing": s["isthing"]}
            for s in d["segments_info"]
        ]
        outputs.append({"panoptic_seg": (ids, info)})
    return outputs


def _pq(dicts, outputs, tmp_path):
    evaluator = COCOPanopticEvaluator(NAME, str(tmp_path))
    evaluator.reset()
    evaluator.process(dicts, outputs)
    return evaluator.evaluate()["panoptic_seg"]


def test_pq_perfect_is_100(dataset, tmp_path):
    result = _pq(dataset, _gt_outputs(dataset), tmp_path)
    for key in ("PQ", "SQ", "RQ", "PQ_th", "PQ_st"):
        assert result[key] == pytest.approx(100.0)


def test_pq_of_a_missed_instance_is_the_hand_value(dataset, tmp_path):
    outputs = _gt_outputs(dataset)
    # drop the first non-crowd thing of image 0: one false negative of its class
    pan, info = outputs[0]["panoptic_seg"]
    missed = next(
        s for s, d in zip(info, dataset[0]["segments_info"]) if d["isthing"] and not d["iscrowd"]
    )
    pan = pan.clone()
    pan[pan == missed["id"]] = 0
    outputs[0] = {"panoptic_seg": (pan, [s for s in info if s is not missed])}
    tp = sum(
        s["isthing"] and not s["iscrowd"] and s["category_id"] == missed["category_id"]
        for d in dataset
        for s in d["segments_info"]
    )
    pq_class = 100 * (tp - 1) / (tp - 1 + 0.5)  # IoU 1 for the others; PQ = TP / (TP + FN / 2)
    result = _pq(dataset, outputs, tmp_path)
    assert result["PQ_th"] == pytest.approx((200 + pq_class) / 3, abs=1e-6)
    assert result["PQ_st"] == pytest.approx(100.0)
    assert result["PQ"] == pytest.approx((500 + pq_class) / 6, abs=1e-6)


def _semantic(d):
    ids = read_panoptic_ids(d["pan_seg_file_name"])
    return semantic_from_panoptic(ids, d["segments_info"], num_stuff=3).astype(np.int64)


def _miou(dicts, sems):
    evaluator = PanopticSemSegEvaluator(NAME, distributed=False)
    evaluator.reset()
    for d, sem in zip(dicts, sems):
        logits = torch.nn.functional.one_hot(torch.as_tensor(sem).clamp(max=5), 6)
        evaluator.process([d], [{"sem_seg": logits.permute(2, 0, 1).float()}])
    return evaluator.evaluate()["sem_seg"]


def test_miou_perfect_and_hand_case(dataset):
    sems = [_semantic(d) for d in dataset]
    assert _miou(dataset, sems)["mIoU"] == pytest.approx(100.0)
    wrong = copy.deepcopy(sems)
    a = int((wrong[0] == 0).sum())  # image 0: every sky pixel predicted as grass
    wrong[0][wrong[0] == 0] = 1
    n_sky = sum(int((s == 0).sum()) for s in sems)
    n_grass = sum(int((s == 1).sum()) for s in sems)
    iou_sky, iou_grass = (n_sky - a) / n_sky, n_grass / (n_grass + a)
    result = _miou(dataset, wrong)
    assert result["IoU-sky"] == pytest.approx(100 * iou_sky)
    assert result["IoU-grass"] == pytest.approx(100 * iou_grass)
    assert result["mIoU"] == pytest.approx(100 * (4 + iou_sky + iou_grass) / 6)


def test_build_evaluator_runs_pq_ap_and_miou(dataset, tmp_path):
    cfg = setup_cfg("configs/UPSNet/upsnet_R_18_FPN_synth_panoptic.yaml")
    names = [type(e).__name__ for e in build_evaluator(cfg, NAME, str(tmp_path))._evaluators]
    assert names == ["COCOPanopticEvaluator", "MaskScoreCOCOEvaluator", "PanopticSemSegEvaluator"]
