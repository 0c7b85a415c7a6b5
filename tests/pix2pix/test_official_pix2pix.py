"""Optional: Pix2Pix and the two-player trainer against the official pix2pix code itself.

Set ``VP_OFFICIAL_CYCLEGAN`` to a checkout of junyanz/pytorch-CycleGAN-and-pix2pix; skipped when
unset (the code is imported from there, never copied: ``tests/official/cyclegan.py``).

- Whole-model training parity: the official ``Pix2PixModel(opt)`` (options equal to our config,
  ``setup`` running the official initialisation) and ours built from the same torch seed have
  identical initial weights; 2 iterations of the official ``set_input`` + ``optimize_parameters``
  and 2 of our ``TwoPlayerStep`` on the same batches, under the same torch and Python seeds
  (dropout masks drawn alike), end with the same G and D weights (BatchNorm statistics
  included) and the same losses.
- The learning rates of ``TwoPlayerTrainer``'s schedulers per iteration equal the official
  ``networks.get_scheduler`` stepped once per epoch (linear, step, cosine).
- The default test mode (``TEST_TRAIN_MODE``: dropout on, BatchNorm on the test image) and
  ``--eval``: ``Predictor`` gives the official ``test.py`` output (the benchmark runner) under the
  same seed, within the fixture tolerance; ``tools/benchmark.py --official`` runs it.
"""

import json
import os
import random

import numpy as np
import pytest
import torch
from detectron2.utils.events import EventStorage
from torchvision import transforms

from tests.official.cyclegan import (
    official_cyclegan,
    official_model,
    official_options,
    runner,
)
from vision_plugins.engine import Predictor, setup_cfg
from vision_plugins.engine.gan_trainer import TwoPlayerStep, TwoPlayerTrainer

from ..tool_scripts import load_tool

OFFICIAL = os.environ.get("VP_OFFICIAL_CYCLEGAN")
pytestmark = pytest.mark.skipif(not OFFICIAL, reason="set VP_OFFICIAL_CYCLEGAN to a checkout")

# U-Net with 6 levels, ngf 8, PatchGAN ndf 8, 64x64 (official --netG unet_64 through the runner
# module's define_G: the official UnetGenerator with num_downs=6), batch norm, dropout on.
CONFIG = "configs/Pix2Pix/pix2pix_unet64_synth.yaml"
SIZE = 64

# Tolerance. Repeating a run (same process, same threads) reproduces every weight bit for bit, and
# ours vs official: 0 on every weight and buffer (the same operations in the same order); the
# losses agree to float32 rounding (sums formed in another order: 1.8e-6 on loss_G ~ 50). So the
# bound is tight: 1e-6. Not thread-count noise: the official run with 1 instead of 2 threads
# differs by up to 1.9e-6 here after 2 iterations (6e-8 on D), and Adam's first step (~lr *
# sign(g)) turns any last-bit gradient difference into up to 2 * lr = 4e-4 somewhere within a
# few iterations. A D/G order, detach, 1/2-factor, beta or lambda error changes weights by >= 1e-4.
WEIGHT_ATOL = 1e-6
LOSS_RTOL = 1e-6


@pytest.fixture(scope="module")
def official():
    with official_cyclegan(OFFICIAL) as ns:
        yield ns


def _cfg(*opts):
    return setup_cfg(CONFIG, ["MODEL.DEVICE", "cpu", "DATALOADER.NUM_WORKERS", "0", *opts])


def _images(seed, count, batch):
    """``count`` batches of ``batch`` (A, B) uint8 RGB images (B a smooth function of A)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        a = rng.integers(0, 256, (batch, SIZE, SIZE, 3), dtype=np.uint8)
        b = (255 - a // 2 - np.roll(a, 3, axis=2) // 3).astype(np.uint8)
        out.append((a, b))
    return out


_to_official = transforms.Compose(
    [transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]
)


def _official_batch(images):
    """The official dataset's tensors (ToTensor + Normalize per image), collated."""
    return torch.stack([_to_official(im) for im in images])


def _our_batch(a, b):
    pixels = [torch.from_numpy(x).permute(0, 3, 1, 2).float() for x in (a, b)]
    return [{"image": pa, "target": pb} for pa, pb in zip(*pixels)]


def _state(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _run_official(official, cfg, data, seed):
    torch.manual_seed(seed)
    random.seed(seed)
    opt = official_options(official, cfg, "pix2pix", train=True)
    model = official_model(official, opt)
    init = {"G": _state(model.netG), "D": _state(model.netD)}
    losses = []
    for a, b in data:
        model.set_input(
            {"A": _official_batch(a), "B": _official_batch(b), "A_paths": [], "B_paths": []}
        )
        model.optimize_parameters()
        names = ("D_fake", "D_real", "D", "G_GAN", "G_L1", "G")
        losses.append({k: getattr(model, "loss_" + k).item() for k in names})
    return init, {"G": _state(model.netG), "D": _state(model.netD)}, losses


def _run_ours(cfg, data, seed):
    torch.manual_seed(seed)
    random.seed(seed)
    model = TwoPlayerTrainer.build_model(cfg).train()
    init = {"G": _state(model.netG), "D": _state(model.netD)}
    optimizers = TwoPlayerTrainer.build_optimizers(cfg, model)
    step = TwoPlayerStep(model, [_our_batch(a, b) for a, b in data], *optimizers.values())
    losses = []
    with EventStorage(0) as storage:
        for i in range(len(data)):
            step.iter = storage.iter = i
            step.run_step()
            logged = {k: v for k, (v, _) in storage.latest().items()}
            losses.append(
                {
                    "D_fake": 2 * logged["loss_D_fake"],
                    "D_real": 2 * logged["loss_D_real"],
                    "D": logged["loss_D_fake"] + logged["loss_D_real"],
                    "G_GAN": logged["loss_G_GAN"],
                    "G_L1": logged["loss_G_L1"],
                    "G": logged["loss_G_GAN"] + logged["loss_G_L1"],
                }
            )
    return init, {"G": _state(model.netG), "D": _state(model.netD)}, losses


def _max_diffs(a, b):
    assert set(a) == set(b)
    out = {}
    for player in a:
        assert list(a[player]) == list(b[player]), player  # the official keys, in order
        out[player] = max(
            float((x.double() - b[player][k].double()).abs().max()) for k, x in a[player].items()
        )
    return out


@pytest.mark.parametrize("batch", [1, 2])
def test_two_training_iterations_match_the_official_model(official, batch):
    cfg = _cfg("SOLVER.IMS_PER_BATCH", str(batch))
    assert cfg.MODEL.GAN.USE_DROPOUT and cfg.MODEL.GAN.NORM == "batch"
    data = _images(batch, 2, batch)
    init_off, final_off, losses_off = _run_official(official, cfg, data, seed=11)
    init_ours, final_ours, losses_ours = _run_ours(cfg, data, seed=11)
    assert _max_diffs(init_off, init_ours) == {"G": 0.0, "D": 0.0}  # same seed: same weights
    moved = _max_diffs(init_off, final_off)
    assert min(moved.values()) > 1e-4  # the steps did change both players
    diffs = _max_diffs(final_off, final_ours)
    assert max(diffs.values()) <= WEIGHT_ATOL, diffs
    for it, (off, ours) in enumerate(zip(losses_off, losses_ours)):
        for key, value in off.items():
            assert ours[key] == pytest.approx(value, rel=LOSS_RTOL, abs=1e-7), (it, key)


@pytest.mark.parametrize(
    "policy,opts",
    [
        ("linear", []),
        ("linear", ["SOLVER.GAN.EPOCH_COUNT", "2"]),
        ("step", ["SOLVER.GAN.LR_DECAY_ITERS", "2"]),
        ("cosine", []),
    ],
)
def test_learning_rate_trace_is_the_official_scheduler(official, policy, opts):
    """3 + 3 epochs of 2 iterations; ours stepped per iteration (``TwoPlayerLRScheduler``),
    the official one at the end of each epoch (``update_learning_rate``)."""
    cfg = _cfg(
        "SOLVER.GAN.LR_POLICY", policy, "SOLVER.GAN.N_EPOCHS", "3",
        "SOLVER.GAN.N_EPOCHS_DECAY", "3", "SOLVER.GAN.ITERS_PER_EPOCH", "2", *opts,
    )  # fmt: skip
    iters_per_epoch, epochs = 2, 6
    opt = official_options(official, cfg, "pix2pix", train=True)
    param = torch.nn.Parameter(torch.zeros(1))
    off_opt = torch.optim.Adam([param], lr=opt.lr, betas=(opt.beta1, 0.999))
    scheduler = official.networks.get_scheduler(off_opt, opt)
    expected = []
    for _ in range(epochs):
        expected += [off_opt.param_groups[0]["lr"]] * iters_per_epoch
        off_opt.step()
        scheduler.step()
    lrs = {"G": cfg.SOLVER.GAN.BASE_LR_G, "D": cfg.SOLVER.GAN.BASE_LR_D}
    ours = {
        p: torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr) for p, lr in lrs.items()
    }
    schedulers = TwoPlayerTrainer.build_lr_schedulers(cfg, ours, iters_per_epoch)
    traces = {p: [] for p in "GD"}
    for _ in range(epochs * iters_per_epoch):
        for p in "GD":
            traces[p].append(ours[p].param_groups[0]["lr"])
            ours[p].step()
            schedulers[p].step()
    assert traces["G"] == pytest.approx(expected, rel=1e-12, abs=1e-18)
    assert traces["D"] == traces["G"]
    assert len(set(expected)) > 1  # the policy did change the rate


def _image(seed, h=80, w=52):
    """A BGR image of another size than the network's (the test transform resizes it)."""
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# The fixture tolerance of the test-mode output (G_test_train_mode, 2e-4 on [-1, 1]) in grey levels
PIXEL_ATOL = 2e-4 * 127.5


def _assert_truncates_to(ours, expected):
    """``expected`` is the official ``tensor2im`` (float -> uint8 by truncation) of an output
    that ours (0..255 floats) equals within PIXEL_ATOL: ours lies in [expected, expected + 1)
    up to that tolerance, at every pixel."""
    offset = ours - expected.astype(np.float32)
    assert offset.min() >= -PIXEL_ATOL and offset.max() < 1 + PIXEL_ATOL, (
        offset.min(),
        offset.max(),
    )


@pytest.mark.parametrize("train_mode", [True, False])
def test_test_mode_is_the_official_test_py(official, train_mode):
    """``Predictor`` (our test transform, model, output scaling) vs the official ``test.py``
    per-image procedure (the benchmark runner) under one seed: without ``--eval`` (our
    default) the dropout masks are drawn from torch's generator at the same points (a mask
    differing anywhere moves pixels by tens of grey levels), so the outputs agree within the
    fixture tolerance (our inference kernels differ from the plain modules by float rounding,
    ~5e-4 grey levels), and the running statistics stay untouched on our side; ``--eval``
    likewise."""
    cfg = _cfg("MODEL.GAN.TEST_TRAIN_MODE", str(train_mode))
    torch.manual_seed(3)
    predictor = Predictor(cfg)
    with torch.no_grad():  # running statistics that differ from the init
        for buf in predictor.model.netG.buffers():
            if buf.is_floating_point():
                buf.add_(torch.rand_like(buf))
    before = _state(predictor.model)
    image = _image(0)
    with runner(OFFICIAL, cfg, predictor.model, image) as run:
        for seed in (1, 2):
            torch.manual_seed(seed)
            expected = run()
            torch.manual_seed(seed)
            ours = predictor(image)["image"].permute(1, 2, 0).numpy()
            assert expected.shape == ours.shape == (SIZE, SIZE, 3)
            _assert_truncates_to(ours, expected)
    if train_mode:  # another seed, other masks: the outputs are random
        torch.manual_seed(5)
        other = predictor(image)["image"].permute(1, 2, 0).numpy()
        assert np.abs(other - ours).max() > 1
    after = _state(predictor.model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_benchmark_compares_with_the_official_test_py(tmp_path):
    """``tools/benchmark.py --official`` finds the runner through the spec and times it."""
    out = tmp_path / "bench.json"
    threads = torch.get_num_threads()
    try:
        load_tool("benchmark").main(
            ["--config-file", CONFIG, "--threads", "1", "--warmup", "0", "--iters", "2",
             "--train-iters", "0", "--official", OFFICIAL, "--output", str(out)]
        )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    result = json.loads(out.read_text())
    assert result["official_latency_ms"] > 0 and result["latency_ratio_vs_official"] > 0
