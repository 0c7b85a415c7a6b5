"""Optional: vision_plugins.gan against the official pix2pix / CycleGAN code itself.

Set ``VP_OFFICIAL_CYCLEGAN`` to a checkout of junyanz/pytorch-CycleGAN-and-pix2pix; skipped when
unset. Its ``models/networks.py`` and ``util/image_pool.py`` are imported from there (nothing is
vendored) and compared with ours:

- every generator / discriminator type and norm: identical state-dict keys (shapes, order), and
  the official weights (BatchNorm statistics randomised) loaded into ours give the same outputs
  in eval and in train mode (dropout under the same torch seed);
- initialisation: the same torch seed gives identical tensors for every ``init_type``, per
  network and for a model's networks built first and initialised afterwards (``BaseModel.setup``);
- ``ImagePool``: identical outputs under the same ``random.seed``;
- ``GANLoss`` and ``cal_gradient_penalty``: identical values (and gradients).
"""

import os
import random
import types

import pytest
import torch
from detectron2.config import get_cfg
from torch import nn

from tests.official._patch import official_code
from vision_plugins import gan

OFFICIAL = os.environ.get("VP_OFFICIAL_CYCLEGAN")
pytestmark = pytest.mark.skipif(not OFFICIAL, reason="set VP_OFFICIAL_CYCLEGAN to a checkout")

NORMS = ["batch", "instance", "none"]


@pytest.fixture(scope="module")
def official():
    """``networks`` and ``ImagePool`` of the official checkout (imported afresh, removed from
    ``sys.modules`` and ``sys.path`` at the end of the module)."""
    with official_code(OFFICIAL, isolate=("models", "util")):
        from models import networks
        from util.image_pool import ImagePool

        yield types.SimpleNamespace(networks=networks, ImagePool=ImagePool)


def _pairs(N, norm):
    """(official constructor, our constructor, input shape) for every network type."""
    nl = N.get_norm_layer(norm)
    out = []
    for num_downs, drop in [(5, False), (7, True), (8, True)]:
        side = 2**num_downs
        out.append(
            (
                lambda n=num_downs, d=drop: N.UnetGenerator(3, 2, n, 4, nl, d),
                lambda n=num_downs, d=drop: gan.UnetGenerator(3, 2, n, 4, norm, d),
                (2, 3, side, side),
            )
        )
    for n_blocks, drop, pad in [(6, False, "reflect"), (9, True, "replicate"), (2, True, "zero")]:
        out.append(
            (
                lambda b=n_blocks, d=drop, p=pad: N.ResnetGenerator(3, 2, 4, nl, d, b, p),
                lambda b=n_blocks, d=drop, p=pad: gan.ResnetGenerator(3, 2, 4, norm, d, b, p),
                (2, 3, 36, 44),
            )
        )
    for n_layers in (1, 3, 4):
        out.append(
            (
                lambda n=n_layers: N.NLayerDiscriminator(6, 8, n, nl),
                lambda n=n_layers: gan.NLayerDiscriminator(6, 8, n, norm),
                (2, 6, 80, 72),
            )
        )
    out.append(
        (
            lambda: N.PixelDiscriminator(6, 8, nl),
            lambda: gan.PixelDiscriminator(6, 8, norm),
            (2, 6, 9, 7),
        )
    )
    return out


@pytest.mark.parametrize("norm", NORMS)
def test_same_keys_and_outputs_with_official_weights(official, norm):
    for make_official, make_ours, shape in _pairs(official.networks, norm):
        torch.manual_seed(0)
        ref = make_official()
        with torch.no_grad():
            for m in ref.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
                    m.running_mean.uniform_(-0.3, 0.3)
                    m.running_var.uniform_(0.5, 2.0)
        ours = make_ours()
        ref_sd, our_sd = ref.state_dict(), ours.state_dict()
        assert [(k, v.shape) for k, v in our_sd.items()] == [
            (k, v.shape) for k, v in ref_sd.items()
        ]
        ours.load_state_dict(ref_sd, strict=True)
        x = torch.randn(shape)
        for train in (False, True):
            ref.train(train)
            ours.train(train)
            torch.manual_seed(1)
            want = ref(x.clone())
            torch.manual_seed(1)
            got = ours(x.clone())
            torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def test_syncbatch_keys(official):
    for make_official, make_ours, _ in _pairs(official.networks, "syncbatch"):
        assert list(make_ours().state_dict()) == list(make_official().state_dict())


def _equal_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("init_type", ["normal", "xavier", "kaiming", "orthogonal"])
def test_same_initialisation_under_the_same_seed(official, init_type):
    N = official.networks
    for norm in ("batch", "instance"):
        for make_official, make_ours, _ in _pairs(N, norm):
            torch.manual_seed(3)
            ref = N.init_net(make_official(), init_type, 0.05)
            torch.manual_seed(3)
            ours = gan.init_weights(make_ours(), init_type, 0.05)
            assert _equal_state(ref, ours), (norm, type(ours).__name__)


def _cfg(**kv):
    cfg = get_cfg()
    gan.add_gan_config(cfg)
    cfg.merge_from_list([x for item in kv.items() for x in item])
    return cfg


def test_builders_match_define_and_setup(official):
    """pix2pix (unet_256 at ngf 8, basic D) and CycleGAN (resnet_9blocks, instance norm): the
    official define_G / define_D then init_net in ``model_names`` order vs our builders with
    ``initialize=False`` then init_weights in the same order; one network alone vs a builder."""
    N = official.networks
    p2p = _cfg(**{"MODEL.GAN.NGF": 8, "MODEL.GAN.D.NDF": 8})
    torch.manual_seed(5)
    ref = [N.define_G(3, 3, 8, "unet_256", "batch", True), N.define_D(6, 8, "basic", 3, "batch")]
    ref = [N.init_net(n, "normal", 0.02) for n in ref]
    torch.manual_seed(5)
    ours = [
        gan.build_generator(p2p, initialize=False),
        gan.build_discriminator(p2p, 6, initialize=False),
    ]
    ours = [gan.init_weights(n, "normal", 0.02) for n in ours]
    assert all(_equal_state(a, b) for a, b in zip(ref, ours))

    cyc = _cfg(
        **{
            "MODEL.GAN.GENERATOR": "ResnetGenerator",
            "MODEL.GAN.NORM": "instance",
            "MODEL.GAN.USE_DROPOUT": False,
            "MODEL.GAN.NGF": 8,
            "MODEL.GAN.D.NDF": 8,
        }
    )
    torch.manual_seed(6)
    ref = [N.define_G(3, 3, 8, "resnet_9blocks", "instance", False) for _ in "AB"]
    ref += [N.define_D(3, 8, "basic", 3, "instance") for _ in "AB"]
    ref = [N.init_net(n, "xavier", 0.1) for n in ref]
    torch.manual_seed(6)
    ours = [gan.build_generator(cyc, initialize=False) for _ in "AB"]
    ours += [gan.build_discriminator(cyc, 3, initialize=False) for _ in "AB"]
    ours = [gan.init_weights(n, "xavier", 0.1) for n in ours]
    assert all(_equal_state(a, b) for a, b in zip(ref, ours))

    torch.manual_seed(7)
    ref = N.init_net(N.define_G(3, 3, 8, "resnet_9blocks", "instance", False), "normal", 0.02)
    torch.manual_seed(7)
    assert _equal_state(ref, gan.build_generator(cyc))


@pytest.mark.parametrize("pool_size", [0, 1, 4])
def test_image_pool_same_outputs_under_the_same_seed(official, pool_size):
    torch.manual_seed(0)
    batches = [torch.randn(b, 3, 4, 4) for b in (1, 2, 3, 1, 2, 1, 3, 2, 2, 1, 1, 3)]
    random.seed(42)
    ref = official.ImagePool(pool_size)
    want = [ref.query(b) for b in batches]
    random.seed(42)
    ours = gan.ImagePool(pool_size)
    got = [ours.query(b) for b in batches]
    assert all(torch.equal(g, w) for g, w in zip(got, want))
    if pool_size:
        assert any(not torch.equal(g, b) for g, b in zip(got, batches))  # swaps happened
    # an explicit random.Random draws the same sequence
    ours = gan.ImagePool(pool_size, rng=random.Random(42))
    assert all(torch.equal(ours.query(b), w) for b, w in zip(batches, want))


def test_gan_loss_and_gradient_penalty(official):
    N = official.networks
    torch.manual_seed(0)
    pred = torch.randn(2, 1, 5, 5)
    for mode in ("vanilla", "lsgan", "wgangp"):
        for target in (True, False):
            for labels in ((1.0, 0.0), (0.9, 0.1)):
                want = N.GANLoss(mode, *labels)(pred, target)
                got = gan.GANLoss(mode, *labels)(pred, target)
                assert torch.equal(got, want), (mode, target, labels)

    D = N.NLayerDiscriminator(3, 4, 2, N.get_norm_layer("instance"))
    real, fake = torch.randn(3, 3, 32, 32), torch.randn(3, 3, 32, 32)
    for type_ in ("real", "fake", "mixed"):
        results = []
        for fn, args in [(N.cal_gradient_penalty, ("cpu",)), (gan.gradient_penalty, ())]:
            D.zero_grad()
            torch.manual_seed(9)
            penalty, grads = fn(D, real.clone(), fake.clone(), *args, type_, 2.0, 3.0)
            penalty.backward()
            # parameters that do not shape d D / d x (the last bias) get no gradient
            results.append((penalty, grads, [p.grad for p in D.parameters()]))
        (p0, g0, d0), (p1, g1, d1) = results
        assert torch.equal(p0, p1) and torch.equal(g0, g1)
        assert [a is None for a in d0] == [b is None for b in d1]
        assert all(torch.equal(a, b) for a, b in zip(d0, d1) if a is not None)
        assert sum(a is not None for a in d0) >= len(d0) - 1
