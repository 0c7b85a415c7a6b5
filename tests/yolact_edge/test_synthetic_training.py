"""Slow (`make test-all`): YolactEdge's three training stages on vp_video_instances (the runs of
projects/YolactEdge/README.md, seed 0): the image model, then the flow network, then the joint
fine-tuning. Asserts that the flow loss falls, that the image model reaches a usable AP, and that
the joint model's feature transfer at the farthest distance from the keyframe (4 frames) keeps
its own keyframe accuracy."""

import json
import os

import pytest
from detectron2.checkpoint import DetectionCheckpointer

from vision_plugins.engine import Trainer, setup_cfg

CONFIGS = "configs/YolactEdge/yolact_edge_R_18_FPN_synth_video_{}.yaml"


def _train(stage, out, *opts):
    cfg = setup_cfg(CONFIGS.format(stage), ["OUTPUT_DIR", str(out / stage), "SEED", "0", *opts])
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    return cfg.OUTPUT_DIR


def _segm_ap(weights, *opts):
    cfg = setup_cfg(CONFIGS.format("joint"), ["MODEL.WEIGHTS", weights, *opts])
    model = Trainer.build_model(cfg)
    DetectionCheckpointer(model).load(weights)
    return Trainer.test(cfg, model)["segm"]["AP"]


def _losses(output_dir):
    with open(os.path.join(output_dir, "metrics.json")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r["total_loss"] for r in rows if "total_loss" in r]


@pytest.mark.slow
def test_three_stages_transfer_features_at_keyframe_accuracy(tmp_path):
    image = os.path.join(_train("image", tmp_path), "model_final.pth")
    flow_dir = _train("flow", tmp_path, "MODEL.WEIGHTS", image)
    flow_losses = _losses(flow_dir)
    assert flow_losses[-1] < 0.25 * flow_losses[0], flow_losses
    flow = os.path.join(flow_dir, "model_final.pth")
    joint = os.path.join(_train("joint", tmp_path, "MODEL.WEIGHTS", flow), "model_final.pth")
    image_ap = _segm_ap(image, "MODEL.YOLACT_EDGE.KEYFRAME_INTERVAL", "1")
    keyframes = _segm_ap(joint, "MODEL.YOLACT_EDGE.KEYFRAME_OFFSET", "4")  # annotated = key
    farthest = _segm_ap(joint)  # every annotated frame 4 frames after its keyframe
    assert image_ap >= 18.0, image_ap
    assert farthest >= keyframes - 3.0, (farthest, keyframes)
