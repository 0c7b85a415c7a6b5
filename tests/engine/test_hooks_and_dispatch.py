"""Validation-loss hook, evaluator dispatch by evaluator_type, mapper dispatch by name."""

import json
import math
import os

import pytest
import torch
from detectron2.data import DatasetMapper, MetadataCatalog
from detectron2.evaluation import COCOEvaluator

from vision_plugins.data import MAPPER_REGISTRY, build_mapper
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.evaluation import build_evaluator

CONFIG = "configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml"


def test_validation_loss_hook_logs_val_losses(tmp_path):
    cfg = setup_cfg(
        CONFIG,
        ["SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "2", "DATALOADER.NUM_WORKERS", "0",
         "TEST.VAL_LOSS.PERIOD", "2", "TEST.VAL_LOSS.MAX_BATCHES", "3", "TEST.EVAL_PERIOD", "0",
         "OUTPUT_DIR", str(tmp_path)],
    )  # fmt: skip
    trainer = Trainer(cfg)
    # only the final evaluation would run the val set through inference: skip it here
    trainer._hooks = [h for h in trainer._hooks if type(h).__name__ != "EvalHook"]
    trainer.train()
    with open(os.path.join(tmp_path, "metrics.json")) as f:
        rows = [json.loads(line) for line in f]
    val = {k: v for r in rows for k, v in r.items() if k.startswith("val/")}
    parts = ["loss_cls", "loss_box_reg", "loss_mask", "loss_rpn_cls", "loss_rpn_loc"]
    for p in parts:
        assert math.isfinite(val[f"val/vp_shapes_val/{p}"]) and val[f"val/vp_shapes_val/{p}"] >= 0
    total = sum(val[f"val/vp_shapes_val/{p}"] for p in parts)
    assert val["val/vp_shapes_val/total_loss"] == pytest.approx(total)
    assert val["val/total_loss"] == pytest.approx(total)
    # untrained mask head: binary cross-entropy close to log(2)
    assert 0.4 < val["val/vp_shapes_val/loss_mask"] < 1.0


def test_evaluator_follows_evaluator_type(tmp_path):
    cfg = setup_cfg(CONFIG, ["OUTPUT_DIR", str(tmp_path)])
    assert isinstance(build_evaluator(cfg, "vp_shapes_val"), COCOEvaluator)
    MetadataCatalog.get("vp_test_odd_eval").set(evaluator_type="no_such_metric")
    with pytest.raises(NotImplementedError, match="no_such_metric.*registered types"):
        build_evaluator(cfg, "vp_test_odd_eval")


def test_mapper_follows_dataset_mapper_name():
    cfg = setup_cfg(CONFIG)
    assert isinstance(build_mapper(cfg, True).mapper, DatasetMapper)

    @MAPPER_REGISTRY.register()
    class RecordingMapper:
        def __init__(self, cfg, is_train):
            self.is_train = is_train

        def __call__(self, d):
            return d

    try:
        cfg = setup_cfg(CONFIG, ["INPUT.DATASET_MAPPER_NAME", "RecordingMapper"])
        assert build_mapper(cfg, False).mapper.is_train is False
        cfg = setup_cfg(CONFIG, ["INPUT.DATASET_MAPPER_NAME", "Nope"])
        with pytest.raises(KeyError, match="Nope.*DatasetMapper"):
            build_mapper(cfg, True)
    finally:
        MAPPER_REGISTRY._obj_map.pop("RecordingMapper")


def test_optimizer_follows_solver_optimizer():
    cfg = setup_cfg(CONFIG, ["SOLVER.BASE_LR", "0.003"])
    model = Trainer.build_model(cfg)
    assert isinstance(Trainer.build_optimizer(cfg, model), torch.optim.SGD)
    cfg = setup_cfg(CONFIG, ["SOLVER.OPTIMIZER", "ADAM", "SOLVER.BASE_LR", "0.003"])
    adam = Trainer.build_optimizer(cfg, model)
    assert isinstance(adam, torch.optim.Adam)
    assert all(g["lr"] == 0.003 for g in adam.param_groups)
    assert sum(len(g["params"]) for g in adam.param_groups) == len(list(model.parameters()))
    cfg = setup_cfg(CONFIG, ["SOLVER.OPTIMIZER", "LBFGS"])
    with pytest.raises(ValueError, match="LBFGS"):
        Trainer.build_optimizer(cfg, model)
