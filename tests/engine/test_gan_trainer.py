"""TwoPlayerTrainer: chosen by the spec, the official per-epoch LR schedule, both optimizers and
schedulers in the checkpoint, exact resume, and 2 processes x b = 1 process x 2b."""

import json
import os
import subprocess
import sys

import pytest
import torch
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.utils.env import seed_all_rng

from vision_plugins.engine import Trainer, TwoPlayerTrainer, setup_cfg, trainer_class
from vision_plugins.engine.gan_trainer import epoch_lambda, multistep_lambda
from vision_plugins.pix2pix.meta_arch import Pix2Pix

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PIX2PIX = "configs/Pix2Pix/pix2pix_unet64_synth.yaml"
CYCLEGAN = "configs/CycleGAN/cyclegan_resnet6_synth.yaml"


def test_train_net_picks_the_two_player_trainer():
    assert trainer_class(setup_cfg(PIX2PIX)) is TwoPlayerTrainer
    assert trainer_class(setup_cfg(CYCLEGAN)) is TwoPlayerTrainer
    assert trainer_class(setup_cfg("configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml")) is (
        Trainer
    )


def test_linear_policy_is_the_official_schedule():
    """Official get_scheduler('linear') with n_epochs 3, n_epochs_decay 3, stepped at the end of
    each epoch: epochs 1-3 at lr, then 1 - k/4 for k = 1, 2, 3."""
    rule = epoch_lambda("linear", 3, 3)
    assert [rule(e) for e in range(6)] == [1.0, 1.0, 1.0, 0.75, 0.5, 0.25]
    assert epoch_lambda("linear", 100, 100)(199) == pytest.approx(1 / 101)
    assert [epoch_lambda("step", 3, 3, decay_epochs=2)(e) for e in range(5)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01]
    )


def test_multistep_policy_is_basicsr_schedule():
    """BasicSR steps MultiStepRestartLR(milestones, gamma) before each iteration but the first
    (current_iter > 1): with milestones (3, 5) the 1-based iterations 1-3 run at lr, 4-5 at
    lr/2, 6- at lr/4."""
    rule = multistep_lambda((5, 3), 0.5)
    assert [rule(it) for it in range(7)] == [1, 1, 1, 0.5, 0.5, 0.25, 0.25]


def _trainer(tmp_path, *opts):
    cfg = setup_cfg(
        PIX2PIX,
        [
            "OUTPUT_DIR",
            str(tmp_path),
            "DATALOADER.NUM_WORKERS",
            "0",
            "SOLVER.IMS_PER_BATCH",
            "2",
            "SOLVER.GAN.ITERS_PER_EPOCH",
            "2",
            "SOLVER.GAN.N_EPOCHS",
            "1",
            "SOLVER.GAN.N_EPOCHS_DECAY",
            "2",
            "SOLVER.GAN.IMAGE_PERIOD",
            "0",
            "DATASETS.TEST",
            "()",
            *opts,
        ],
    )
    seed_all_rng(3)
    return TwoPlayerTrainer(cfg)


def test_lr_per_iteration_and_both_optimizers(tmp_path):
    trainer = _trainer(
        tmp_path, "SOLVER.MAX_ITER", "6", "SOLVER.GAN.BASE_LR_D", "0.0001",
        "DATASETS.TEST", "('vp_pix2pix_val',)", "SOLVER.GAN.IMAGE_PERIOD", "100",
    )  # fmt: skip
    trainer.resume_or_load(resume=False)
    trainer.train()
    history = trainer.storage.history
    lrs = [v for v, _ in history("lr").values()]
    lrs_d = [v for v, _ in history("lr_D").values()]
    # 2 iterations per epoch: 1 epoch at lr, then 1 - 1/3, 1 - 2/3
    assert lrs == pytest.approx([2e-4, 2e-4, 2e-4 * 2 / 3, 2e-4 * 2 / 3, 2e-4 / 3, 2e-4 / 3])
    assert lrs_d == pytest.approx([x / 2 for x in lrs])
    for key in ("loss_D_fake", "loss_D_real", "loss_G_GAN", "loss_G_L1", "total_loss"):
        assert len(history(key).values()) == 6, key
    state = torch.load(tmp_path / "model_final.pth", weights_only=False)
    trainer_state = state["trainer"]
    assert {"optimizer", "optimizer_d", "rng"} <= set(trainer_state["_trainer"])
    assert set(trainer_state["hooks"]["TwoPlayerLRScheduler"]) == {"G", "D"}
    metrics = [json.loads(line) for line in open(tmp_path / "metrics.json")]
    assert any("loss_D_fake" in m and "lr_D" in m for m in metrics)
    # the evaluation after the last iteration (translation evaluator of vp_pix2pix_val)
    assert 0 < metrics[-1]["translation/L1"] < 1 and metrics[-1]["translation/PSNR"] > 5
    assert sorted(os.listdir(tmp_path / "images")) == ["iter_0000006.png"]


def test_resumed_run_ends_with_identical_weights(tmp_path):
    """N + M iterations in one run == N iterations, stopped, then --resume for M (dropout masks,
    random crops / flips, data order and both Adams and schedulers all continue exactly)."""
    full = _trainer(tmp_path / "full", "SOLVER.MAX_ITER", "6")
    full.resume_or_load(resume=False)
    full.train()
    first = _trainer(tmp_path / "split", "SOLVER.MAX_ITER", "3", "SOLVER.CHECKPOINT_PERIOD", "3")
    first.resume_or_load(resume=False)
    first.train()
    second = _trainer(tmp_path / "split", "SOLVER.MAX_ITER", "6")
    second.resume_or_load(resume=True)
    assert second.start_iter == 3
    second.train()
    a, b = full.model.state_dict(), second.model.state_dict()
    assert set(a) == set(b)
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]
    for player in ("G", "D"):
        assert full.schedulers[player].state_dict() == second.schedulers[player].state_dict()


def _train_net(tmp_path, num_procs, batch):
    out = tmp_path / f"p{num_procs}"
    cmd = [
        sys.executable,
        os.path.join(REPO, "tools", "train_net.py"),
        "--config-file",
        CYCLEGAN,
        "--num-gpus",
        str(num_procs),
        "OUTPUT_DIR",
        str(out),
        "SEED",
        "1",
        "SOLVER.IMS_PER_BATCH",
        str(batch),
        "SOLVER.MAX_ITER",
        "2",
        "DATALOADER.NUM_WORKERS",
        "0",
        "INPUT.GAN.PREPROCESS",
        "none",
        "INPUT.GAN.NO_FLIP",
        "True",
        "INPUT.GAN.SERIAL_BATCHES",
        "True",
        "MODEL.GAN.LOSS.POOL_SIZE",
        "0",
        "SOLVER.GAN.IMAGE_PERIOD",
        "0",
        "SOLVER.CHECKPOINT_PERIOD",
        "100",
    ]
    # the evaluation after the last step: once, in the 1-process run (B2A output of CycleGAN)
    cmd += ["DATASETS.TEST", "('vp_cyclegan_val',)" if num_procs == 1 else "()"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(cmd, cwd=REPO, check=True, env=env, capture_output=True)
    lines = [json.loads(line) for line in open(out / "metrics.json")]
    return {k: v for line in lines for k, v in line.items()}


def test_two_processes_give_the_losses_of_one_with_the_whole_batch(tmp_path):
    """Instance norm: a sample's output does not depend on the rest of its batch, so 2 processes
    x 2 images (gradients averaged per player) reproduce 1 process x 4 images; the logged losses
    (medians of the 2 iterations) agree to 1e-5 relative (float summation order)."""
    one = _train_net(tmp_path, 1, 4)
    two = _train_net(tmp_path, 2, 4)
    keys = [k for k in one if k.startswith("loss_")]
    assert {"loss_G_A", "loss_cycle_B", "loss_idt_A", "loss_D_A", "loss_D_B"} <= set(keys)
    for key in keys:
        assert two[key] == pytest.approx(one[key], rel=1e-5, abs=1e-7), key
    # the evaluation scored both directions of vp_cyclegan_val against the known map
    assert 0 < one["translation/L1"] < 1 and 0 < one["translation/L1_B2A"] < 1


def test_amp_is_refused(tmp_path):
    with pytest.raises(ValueError, match="SOLVER.AMP.ENABLED"):
        _trainer(tmp_path, "SOLVER.AMP.ENABLED", "True")


def test_phase_is_required_in_training(tmp_path):
    model = _trainer(tmp_path, "SOLVER.MAX_ITER", "1").model
    with pytest.raises(ValueError, match="TwoPlayerTrainer"):
        model([{"image": torch.zeros(3, 64, 64), "target": torch.zeros(3, 64, 64)}])


@META_ARCH_REGISTRY.register()
class _OnePlayerPix2PixForTest(Pix2Pix):
    """Pix2Pix's generator alone on its L1 term: a one-player model."""

    players = {"G": ("netG",)}
    step_order = ("G",)

    def player_losses(self, player):
        fake_B, real_B = self._cache["fake_B"], self._cache["real_B"]
        return {"loss_G_L1": self.lambda_l1 * torch.nn.functional.l1_loss(fake_B, real_B)}


def test_one_player_model_trains_with_one_optimizer_and_the_multistep_policy(tmp_path):
    trainer = _trainer(
        tmp_path, "MODEL.META_ARCHITECTURE", "_OnePlayerPix2PixForTest", "SOLVER.MAX_ITER", "4",
        "SOLVER.GAN.LR_POLICY", "multistep", "SOLVER.GAN.STEPS", "(2, 3)",
        "SOLVER.GAN.GAMMA", "0.5", "SOLVER.GAN.WEIGHT_DECAY", "0.01",
    )  # fmt: skip
    assert set(trainer._trainer.optimizers) == {"G"}
    assert trainer._trainer.optimizer.param_groups[0]["weight_decay"] == 0.01
    before = {k: v.clone() for k, v in trainer.model.netD.state_dict().items()}
    trainer.resume_or_load(resume=False)
    trainer.train()
    history = trainer.storage.history
    assert [v for v, _ in history("lr").values()] == pytest.approx([2e-4, 2e-4, 1e-4, 5e-5])
    assert "lr_D" not in trainer.storage.histories()
    assert len(history("total_loss").values()) == 4  # detectron2 logs a lone term as total_loss
    for k, v in trainer.model.netD.state_dict().items():  # no optimizer owns D
        assert torch.equal(v, before[k]), k
    state = torch.load(tmp_path / "model_final.pth", weights_only=False)["trainer"]
    assert set(state["_trainer"]) == {"optimizer", "rng"}
    assert set(state["hooks"]["TwoPlayerLRScheduler"]) == {"G"}
    resumed = _trainer(
        tmp_path, "MODEL.META_ARCHITECTURE", "_OnePlayerPix2PixForTest", "SOLVER.MAX_ITER", "5",
        "SOLVER.GAN.LR_POLICY", "multistep", "SOLVER.GAN.STEPS", "(2, 3)",
    )  # fmt: skip
    resumed.resume_or_load(resume=True)
    assert resumed.start_iter == 4
    assert resumed._trainer.optimizer.state_dict()["state"]  # Adam moments restored
