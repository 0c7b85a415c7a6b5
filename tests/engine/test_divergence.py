"""Divergence is reported the same way for every meta-architecture: detectron2's
``FloatingPointError`` naming the iteration and the loss terms (YOLACT used to end in
``RuntimeError: all elements of input should be between 0 and 1`` from its mask loss)."""

import re

import pytest
import torch
from detectron2.utils.events import EventStorage

from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.engine.divergence import diverged, non_finite_parameters


@pytest.mark.parametrize(
    "config",
    [
        "configs/YOLACT/yolact_R_18_FPN_synth_shapes.yaml",
        "configs/RetinaFace/retinaface_mnet025_synth_faces.yaml",
        "configs/CenterNet/centernet_oap_res18_synth_shapes.yaml",
        "configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml",
    ],
)
def test_huge_learning_rate_raises_floating_point_error_with_iteration_and_losses(config, tmp_path):
    cfg = setup_cfg(
        config,
        ["SOLVER.BASE_LR", "1e12", "SOLVER.WARMUP_ITERS", "0", "SOLVER.MAX_ITER", "30",
         "SOLVER.IMS_PER_BATCH", "2", "SOLVER.CLIP_GRADIENTS.ENABLED", "False",
         "DATALOADER.NUM_WORKERS", "0", "TEST.EVAL_PERIOD", "0", "MODEL.DEVICE", "cpu",
         "OUTPUT_DIR", str(tmp_path)],
    )  # fmt: skip
    torch.manual_seed(0)
    trainer = Trainer(cfg)
    trainer._hooks = [h for h in trainer._hooks if type(h).__name__ != "EvalHook"]
    with pytest.raises(FloatingPointError) as e:
        trainer.train()
    message = str(e.value)
    assert re.search(r"iteration=\d+", message) and "loss" in message, message


def test_a_genuine_error_is_not_reported_as_divergence():
    model = torch.nn.Linear(2, 2)
    assert non_finite_parameters(model) == []
    assert diverged(model, 3, None, RuntimeError("bug")) is None
    own = FloatingPointError("Loss became infinite or NaN at iteration=3!")
    assert diverged(model, 3, None, own) is None  # detectron2's report passes unchanged
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    assert non_finite_parameters(model) == ["weight"]
    with EventStorage(3) as storage:
        storage.put_scalars(total_loss=7.0, loss_a=7.0)
        error = diverged(model, 3, storage, RuntimeError("input should be between 0 and 1"))
    assert "iteration=3" in str(error) and "'loss_a': 7.0" in str(error) and "weight" in str(error)
