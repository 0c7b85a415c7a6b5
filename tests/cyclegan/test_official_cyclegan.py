"""Optional: CycleGAN and the two-player trainer against the official CycleGAN code itself.

Set ``VP_OFFICIAL_CYCLEGAN`` to a checkout of junyanz/pytorch-CycleGAN-and-pix2pix; skipped when
unset (the code is imported from there, never copied: ``tests/official/cyclegan.py``).

- Whole-model training parity: the official ``CycleGANModel(opt)`` (options equal to our config,
  ``setup`` running the official initialisation of G_A, G_B, D_A, D_B) and ours built from the
  same torch seed have identical initial weights; iterations of the official ``set_input`` +
  ``optimize_parameters`` and of our ``TwoPlayerStep`` on the same batches, under the same torch
  and Python seeds, end with the same weights of all four networks, the same losses and the same
  image pools -- with pools of 2 at batch 1 over 4 iterations the pools fill, then swap (the
  Python ``random`` draws of the official ``ImagePool``), and with the default pool of 50 at
  batch 2; and with dropout in the generators (the masks drawn in the official order of the
  passes).
- The test output (``--model test`` with G_A's weights, the benchmark runner) equals
  ``Predictor``'s within the fixture tolerance.
"""

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

OFFICIAL = os.environ.get("VP_OFFICIAL_CYCLEGAN")
pytestmark = pytest.mark.skipif(not OFFICIAL, reason="set VP_OFFICIAL_CYCLEGAN to a checkout")

# ResNet generators with 2 blocks (the official ResnetGenerator through the runner module's
# define_G: --netG resnet_2blocks), ngf 8, PatchGANs ndf 8, instance norm, 64x64.
CONFIG = "configs/CycleGAN/cyclegan_resnet6_synth.yaml"
SIZE = 64
NETS = ("G_A", "G_B", "D_A", "D_B")
POOLS = ("fake_A_pool", "fake_B_pool")
LOSSES = ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B")

# Tolerance. Repeating a run (same process, same threads) reproduces every weight bit for bit, and
# ours vs official: 0 on every weight, buffer and pool image (the same operations in the same
# order); the losses agree to float32 rounding (sums formed in another order). So the bound is
# tight: 1e-6. Not thread-count noise: the official run with 1 instead of 2 threads differs by
# 9.5e-4 after 4 iterations (pool 2) and 3.7e-4 after 2 (batch 2), as a last-bit gradient
# difference flips the sign of Adam's first step (~lr * sign(g)) somewhere and grows from there
# -- as large as the effect of a real ordering error: the four generator passes in another order
# (summing G_B's gradients in another order) left 5e-10 after one iteration and 1e-3 after four.
WEIGHT_ATOL = 1e-6
LOSS_RTOL = 1e-6

_to_official = transforms.Compose(
    [transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]
)


@pytest.fixture(scope="module")
def official():
    with official_cyclegan(OFFICIAL) as ns:
        yield ns


def _cfg(*opts):
    return setup_cfg(
        CONFIG, ["MODEL.DEVICE", "cpu", "DATALOADER.NUM_WORKERS", "0", "MODEL.GAN.N_BLOCKS", "2",
                 *opts]
    )  # fmt: skip


def _images(seed, count, batch):
    """``count`` unpaired batches: A random, B a colour map of other random images."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        a = rng.integers(0, 256, (batch, SIZE, SIZE, 3), dtype=np.uint8)
        b = rng.integers(0, 256, (batch, SIZE, SIZE, 3), dtype=np.uint8)[..., ::-1] // 2 + 64
        out.append((a, np.ascontiguousarray(b)))
    return out


def _official_batch(images):
    return torch.stack([_to_official(im) for im in images])


def _our_batch(a, b):
    pixels = [torch.from_numpy(x).permute(0, 3, 1, 2).float() for x in (a, b)]
    return [{"image": pa, "image_B": pb} for pa, pb in zip(*pixels)]


def _states(model):
    return {n: {k: v.detach().clone() for k, v in getattr(model, "net" + n).state_dict().items()}
            for n in NETS}  # fmt: skip


def _run_official(official, cfg, data, seed):
    torch.manual_seed(seed)
    random.seed(seed)
    opt = official_options(official, cfg, "cycle_gan", train=True)
    model = official_model(official, opt)
    init = _states(model)
    losses = []
    for a, b in data:
        model.set_input(
            {"A": _official_batch(a), "B": _official_batch(b), "A_paths": [], "B_paths": []}
        )
        model.optimize_parameters()
        losses.append({k: getattr(model, "loss_" + k).item() for k in LOSSES + ("G",)})
    pools = {k: [im.clone() for im in getattr(model, k).images] for k in POOLS}
    return init, _states(model), losses, pools


def _run_ours(cfg, data, seed):
    torch.manual_seed(seed)
    random.seed(seed)
    model = TwoPlayerTrainer.build_model(cfg).train()
    init = _states(model)
    optimizers = TwoPlayerTrainer.build_optimizers(cfg, model)
    step = TwoPlayerStep(model, [_our_batch(a, b) for a, b in data], *optimizers.values())
    losses, fakes = [], []
    with EventStorage(0) as storage:
        for i in range(len(data)):
            step.iter = storage.iter = i
            step.run_step()
            logged = {k: v for k, (v, _) in storage.latest().items()}
            losses.append({k: logged["loss_" + k] for k in LOSSES})
            losses[-1]["G"] = sum(logged["loss_" + k] for k in LOSSES if not k.startswith("D"))
            fakes.append({k: model._cache[k].data_ptr() for k in ("fake_A", "fake_B")})
    pools = {k: [im.clone() for im in getattr(model, k).images] for k in POOLS}
    # pool entries are views of the batch they came from: the iterations whose fakes they hold
    held = [
        [i for i, f in enumerate(fakes) if f[key] == im.data_ptr()]
        for key in ("fake_A", "fake_B")
        for im in getattr(model, key + "_pool").images
    ]
    return init, _states(model), losses, pools, held


def _max_diffs(a, b):
    assert set(a) == set(b)
    out = {}
    for net in a:
        assert list(a[net]) == list(b[net]), net  # the official keys, in order
        out[net] = max(float((x.double() - b[net][k].double()).abs().max())
                       for k, x in a[net].items())  # fmt: skip
    return out


@pytest.mark.parametrize(
    "pool,batch,iters,dropout", [(2, 1, 4, False), (50, 2, 2, False), (2, 1, 4, True)]
)
def test_training_iterations_match_the_official_model(official, pool, batch, iters, dropout):
    cfg = _cfg(
        "MODEL.GAN.LOSS.POOL_SIZE", str(pool), "SOLVER.IMS_PER_BATCH", str(batch),
        "MODEL.GAN.USE_DROPOUT", str(dropout),
    )  # fmt: skip
    data = _images(pool, iters, batch)
    init_off, final_off, losses_off, pools_off = _run_official(official, cfg, data, seed=7)
    init_ours, final_ours, losses_ours, pools_ours, held = _run_ours(cfg, data, seed=7)
    assert set(_max_diffs(init_off, init_ours).values()) == {0.0}  # same seed: same weights
    assert min(_max_diffs(init_off, final_off).values()) > 1e-4  # every network was trained
    diffs = _max_diffs(final_off, final_ours)
    assert max(diffs.values()) <= WEIGHT_ATOL, diffs
    for it, (off, ours) in enumerate(zip(losses_off, losses_ours)):
        for key, value in off.items():
            assert ours[key] == pytest.approx(value, rel=LOSS_RTOL, abs=1e-7), (it, key)
    for name, images in pools_off.items():
        assert len(images) == len(pools_ours[name]) == min(pool, batch * iters), name
        for x, y in zip(images, pools_ours[name]):
            assert float((x - y).abs().max()) <= WEIGHT_ATOL, name
    if pool < batch * iters:  # the swap branch ran: a pool holds a fake of iteration 3 or later
        assert max(sum(held, [])) >= 2, held


@pytest.mark.parametrize("train_mode", [True, False])
def test_test_output_is_the_official_test_py(official, train_mode):
    cfg = _cfg("MODEL.GAN.TEST_TRAIN_MODE", str(train_mode))
    torch.manual_seed(0)
    predictor = Predictor(cfg)
    image = np.random.default_rng(1).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    with runner(OFFICIAL, cfg, predictor.model, image) as run:
        expected = run()
    ours = predictor(image)["image"].permute(1, 2, 0).numpy()
    assert expected.shape == ours.shape == (SIZE, SIZE, 3)
    # ours (0..255 floats) within the fixture tolerance (test_fake_B: 5e-4 on [-1, 1]) of the
    # output the official tensor2im truncated: in [expected, expected + 1) up to it
    offset = ours - expected.astype(np.float32)
    tol = 5e-4 * 127.5
    assert offset.min() >= -tol and offset.max() < 1 + tol, (offset.min(), offset.max())
