"""The networks against the GAN parity fixtures (../shared/parity/gans, see its README): the
official state dicts load with ``strict=True`` into networks built with the fixtures' settings,
and the forward passes reproduce the official outputs (pix2pix ``--eval`` and default test mode
with the recorded dropout masks; CycleGAN test outputs and discriminator logits)."""

import os
import sys

import numpy as np
import pytest
import torch

from tests.parity import PARITY
from vision_plugins.gan import NLayerDiscriminator, ResnetGenerator, UnetGenerator

GANS = os.path.join(PARITY, "gans")
pytestmark = pytest.mark.skipif(
    not os.path.isdir(GANS), reason=f"GAN parity fixtures not found at {GANS}"
)


def _load(name):
    sys.path.insert(0, GANS)
    try:
        import synth_gans as SG
    finally:
        sys.path.remove(GANS)
    man, sds, ins, exp = SG.load_fixture(os.path.join(GANS, name))
    SG.check_integrity(man, sds, ins)
    return man, sds, ins, exp


def _loaded(net, state_dict):
    net.load_state_dict(state_dict, strict=True)
    assert list(net.state_dict()) == list(state_dict)  # same keys in the official order
    return net.eval()


def _tensor(u8):
    """The official ToTensor + Normalize((.5,)*3, (.5,)*3): x / 255, then (x - 0.5) / 0.5."""
    x = torch.from_numpy(u8).permute(0, 3, 1, 2).float() / 255
    return (x - 0.5) / 0.5


def _check(man, exp, key, ours):
    atol = man["tolerances"]["per_key"][key]["atol"]
    err = np.abs(ours.detach().numpy() - exp[key]).max()
    assert err <= atol, f"{key}: max |ours - official| = {err} > {atol}"


@pytest.fixture(scope="module")
def pix2pix():
    man, sds, ins, exp = _load("pix2pix_unet256")
    G = _loaded(UnetGenerator(3, 3, 8, 64, "batch", True), sds["G"])
    D = _loaded(NLayerDiscriminator(6, 64, 3, "batch"), sds["D"])
    return man, G, D, _tensor(ins["A"]), _tensor(ins["B"]), exp


@pytest.fixture(scope="module")
def cyclegan():
    man, sds, ins, exp = _load("cyclegan_resnet9")
    nets = {
        n: _loaded(ResnetGenerator(3, 3, 64, "instance", False, 9), sds[n]) for n in ("G_A", "G_B")
    }
    for n in ("D_A", "D_B"):
        nets[n] = _loaded(NLayerDiscriminator(3, 64, 3, "instance"), sds[n])
    return man, nets, _tensor(ins["A"]), _tensor(ins["B"]), exp


@torch.no_grad()
def test_pix2pix_eval_outputs(pix2pix):
    man, G, D, A, B, exp = pix2pix
    fake = G(A)
    _check(man, exp, "G_eval", fake)
    _check(man, exp, "D_eval_real", D(torch.cat([A, B], 1)))
    _check(man, exp, "D_eval_fake_of_G_eval", D(torch.cat([A, fake], 1)))


@torch.no_grad()
def test_pix2pix_default_test_mode_with_recorded_dropout(pix2pix):
    """Official test.py without --eval: train-mode BatchNorm (the test image's statistics) and
    dropout; the recorded masks are replayed at the recorded modules, in forward order."""
    man, G, _, A, _, exp = pix2pix
    masks = man["dropout_masks"]["test"]
    modules = dict(G.named_modules())
    calls = []

    def replay(module, inputs, output):
        m = masks[len(calls)]
        assert modules[m["module"]] is module, "dropout called out of the official order"
        bits = np.unpackbits(exp[m["key"]])[: int(np.prod(m["shape"]))].reshape(m["shape"])
        calls.append(m["key"])
        return inputs[0] * torch.from_numpy(bits).float() / 0.5

    hooks = [modules[m["module"]].register_forward_hook(replay) for m in masks]
    state = {k: v.clone() for k, v in G.state_dict().items()}
    try:
        G.train()
        out = G(A)
    finally:
        for h in hooks:
            h.remove()
        G.load_state_dict(state)  # undo the running-statistics update of the train-mode pass
        G.eval()
    assert len(calls) == len(masks)
    _check(man, exp, "G_test_train_mode", out)


@torch.no_grad()
def test_cyclegan_test_outputs(cyclegan):
    man, nets, A, B, exp = cyclegan
    fake_B, fake_A = nets["G_A"](A), nets["G_B"](B)
    _check(man, exp, "test_fake_B", fake_B)
    _check(man, exp, "test_rec_A", nets["G_B"](fake_B))
    _check(man, exp, "test_fake_A", fake_A)
    _check(man, exp, "test_rec_B", nets["G_A"](fake_A))
    _check(man, exp, "D_A_real_B", nets["D_A"](B))
    _check(man, exp, "D_B_real_A", nets["D_B"](A))
