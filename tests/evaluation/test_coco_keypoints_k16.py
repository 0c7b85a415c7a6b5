"""COCO keypoint AP on a COCO-style pose dataset with K = 16 (MPII joints): detectron2's
COCOEvaluator with TEST.KEYPOINT_OKS_SIGMAS of length 16, fed by StackedHourglassPose."""

import json

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances
from detectron2.evaluation import inference_on_dataset
from detectron2.structures import Boxes, Instances

from vision_plugins.data.mpii import MPII_KEYPOINT_FLIP_MAP, MPII_KEYPOINT_NAMES, mpii_to_coco_json
from vision_plugins.data.synthetic import ensure_generated
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.evaluation import build_evaluator

NAME = "test_vp_pose_mpii_coco16"
SIGMAS = [0.089, 0.087, 0.107, 0.107, 0.087, 0.089, 0.1, 0.1, 0.1, 0.1,
          0.062, 0.072, 0.079, 0.079, 0.072, 0.062]  # fmt: skip


@pytest.fixture(scope="module")
def coco16(tmp_path_factory):
    root = tmp_path_factory.mktemp("vp")
    json_file, image_root = ensure_generated("vp_pose_mpii_val", num_images=12, root=str(root))
    coco_json = str(root / "val_coco.json")
    mpii_to_coco_json(json_file, image_root, coco_json)
    if NAME in DatasetCatalog.list():
        DatasetCatalog.remove(NAME)
        MetadataCatalog.remove(NAME)
    register_coco_instances(NAME, {}, coco_json, image_root)
    MetadataCatalog.get(NAME).set(
        keypoint_names=list(MPII_KEYPOINT_NAMES), keypoint_flip_map=list(MPII_KEYPOINT_FLIP_MAP)
    )
    return coco_json


def _cfg(sigmas=SIGMAS):
    return setup_cfg(
        "configs/StackedHourglass/shg_2stack_synth_pose_mpii.yaml",
        [
            "MODEL.POSE_HOURGLASS.INP_DIM", "16", "MODEL.POSE_HOURGLASS.INPUT_RES", "64",
            "MODEL.POSE_HOURGLASS.OUTPUT_RES", "16", "DATASETS.TRAIN", f"('{NAME}',)",
            "DATASETS.TEST", f"('{NAME}',)", "TEST.KEYPOINT_OKS_SIGMAS", str(sigmas),
            "DATALOADER.NUM_WORKERS", "0",
        ],
    )  # fmt: skip


def test_converted_json(coco16):
    with open(coco16) as f:
        coco = json.load(f)
    assert coco["categories"][0]["keypoints"] == list(MPII_KEYPOINT_NAMES)
    ann = coco["annotations"][0]
    kps = np.asarray(ann["keypoints"]).reshape(16, 3)
    labelled = kps[kps[:, 2] > 0]
    assert ann["num_keypoints"] == len(labelled)
    span = labelled[:, :2].max(0) - labelled[:, :2].min(0)
    assert ann["area"] == pytest.approx(span[0] * span[1])
    assert ann["bbox"][2] == ann["bbox"][3] > 0  # the 200·scale person square


def _ground_truth_as_predictions(shift=0.0):
    """One Instances per image holding the ground-truth joints (+ shift px on x)."""
    outs = []
    for d in DatasetCatalog.get(NAME):
        ann = d["annotations"][0]
        kps = torch.tensor(ann["keypoints"], dtype=torch.float32).view(16, 3)
        kps[:, 0] += shift
        kps[:, 2] = 1.0
        inst = Instances((d["height"], d["width"]))
        x, y, w, h = ann["bbox"]
        inst.pred_boxes = Boxes(torch.tensor([[x, y, x + w, y + h]]))
        inst.scores = torch.ones(1)
        inst.pred_classes = torch.zeros(1, dtype=torch.long)
        inst.pred_keypoints = kps[None]
        outs.append(({"image_id": d["image_id"]}, {"instances": inst}))
    return outs


def _keypoint_ap(evaluator, pairs):
    evaluator.reset()
    for inp, out in pairs:
        evaluator.process([inp], [out])
    return evaluator.evaluate()["keypoints"]["AP"]


def test_keypoint_ap_with_16_sigmas(coco16, tmp_path):
    evaluator = build_evaluator(_cfg(), NAME, str(tmp_path))
    assert np.allclose(evaluator._kpt_oks_sigmas, SIGMAS)
    assert _keypoint_ap(evaluator, _ground_truth_as_predictions()) == pytest.approx(100.0)
    # a 6 px shift of every joint: OKS = mean exp(-36 / (2 area (2σ)²)) drops below some thresholds
    shifted = _keypoint_ap(evaluator, _ground_truth_as_predictions(shift=6.0))
    assert 0 < shifted < 100


def test_missing_or_wrong_sigmas_are_named(coco16, tmp_path):
    with pytest.raises(ValueError, match=f"{NAME}.*16 keypoints.*TEST.KEYPOINT_OKS_SIGMAS"):
        build_evaluator(_cfg(sigmas=[]), NAME, str(tmp_path))
    with pytest.raises(ValueError, match="KEYPOINT_OKS_SIGMAS has 3 values.*16 keypoints"):
        build_evaluator(_cfg(sigmas=[0.1, 0.1, 0.1]), NAME, str(tmp_path))


def test_stacked_hourglass_on_the_coco_style_dataset(coco16, tmp_path):
    cfg = _cfg()
    model = Trainer.build_model(cfg).eval()
    loader = Trainer.build_test_loader(cfg, NAME)
    results = inference_on_dataset(model, loader, build_evaluator(cfg, NAME, str(tmp_path)))
    assert set(results["keypoints"]) >= {"AP", "AP50", "AP75"}
    assert np.isfinite(results["keypoints"]["AP"])
