"""Super-resolution networks and losses: parameter counts of the official sizes, shapes, the
paper SRResNet / discriminator layouts, errors, and the relativistic average GAN by hand."""

import math

import pytest
import torch
from torch.nn import functional as F

from vision_plugins.gan import GAN_DISCRIMINATOR_REGISTRY, GAN_GENERATOR_REGISTRY
from vision_plugins.super_resolution import (
    ESRGAN,
    MSRResNet,
    RRDBNet,
    SRGANDiscriminator,
    SRResNet,
    VGGStyleDiscriminator,
)


def _count(net):
    return sum(p.numel() for p in net.parameters())


def test_parameter_counts_of_the_official_sizes():
    assert _count(MSRResNet()) == 1_517_571  # BasicSR MSRResNet x4: 1.518 M
    assert _count(RRDBNet()) == 16_697_987  # ESRGAN RRDBNet(3, 3, 64, 23, gc=32): 16.698 M
    # BasicSR VGGStyleDiscriminator(3, 64): 14.499 M parameters (+ 5,760 BN statistics)
    assert _count(VGGStyleDiscriminator()) == 14_499_401
    # SRGAN paper D on 96²: convs 64..512 + Dense(512·6·6 -> 1024) + Dense(1024 -> 1)
    convs = 3 * 64 * 9 + 64
    chans = [64, 64, 128, 128, 256, 256, 512, 512]
    convs += sum(a * b * 9 + 2 * b for a, b in zip(chans[:-1], chans[1:]))
    dense = 512 * 36 * 1024 + 1024 + 1024 + 1
    assert _count(SRGANDiscriminator()) == convs + dense
    # SRResNet (paper): 9x9 head, 16 x [conv, BN, PReLU, conv, BN], conv + BN, 2 x [conv, PReLU]
    head = 3 * 64 * 81 + 64 + 1
    block = 2 * (64 * 64 * 9 + 64 + 2 * 64) + 1
    mid = 64 * 64 * 9 + 64 + 2 * 64
    up = 2 * (64 * 256 * 9 + 256 + 1)
    tail = 64 * 3 * 81 + 3
    assert _count(SRResNet()) == head + 16 * block + mid + up + tail


def test_registered_by_class_name():
    for name in ("SRResNet", "MSRResNet", "RRDBNet"):
        assert name in GAN_GENERATOR_REGISTRY
    for name in ("SRGANDiscriminator", "VGGStyleDiscriminator"):
        assert name in GAN_DISCRIMINATOR_REGISTRY


@pytest.mark.parametrize(
    "net, scale",
    [
        (SRResNet(num_feat=8, num_block=2, scale=2), 2),
        (SRResNet(num_feat=8, num_block=2, scale=4), 4),
        (MSRResNet(num_feat=8, num_block=2, scale=2), 2),
        (MSRResNet(num_feat=8, num_block=2, scale=3), 3),
        (MSRResNet(num_feat=8, num_block=2, scale=4), 4),
        (RRDBNet(num_feat=8, num_block=1, gc=4), 4),
    ],
)
def test_generators_upscale(net, scale):
    x = torch.rand(2, 3, 6, 5)
    assert net.eval()(x).shape == (2, 3, 6 * scale, 5 * scale)


def test_msrresnet_with_zero_weights_is_bilinear_upsampling():
    """The body and tail add to the bilinear upsampling of the input: zeroed last conv ->
    exactly F.interpolate(bilinear, align_corners=False)."""
    net = MSRResNet(num_feat=8, num_block=1).eval()
    torch.nn.init.zeros_(net.conv_last.weight)
    torch.nn.init.zeros_(net.conv_last.bias)
    x = torch.rand(1, 3, 5, 7)
    want = F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
    assert torch.equal(net(x), want)


def test_unsupported_scales_and_input_sizes_are_refused():
    with pytest.raises(ValueError, match="INPUT.SR.SCALE=3"):
        RRDBNet(scale=3)
    with pytest.raises(ValueError, match="INPUT.SR.SCALE=3"):
        SRResNet(scale=3)
    with pytest.raises(ValueError, match="INPUT_SIZE=96"):
        VGGStyleDiscriminator(input_size=96)
    d = VGGStyleDiscriminator(ndf=4)
    with pytest.raises(ValueError, match=r"takes 128x128.*got \(96, 96\)"):
        d(torch.rand(1, 3, 96, 96))
    assert SRGANDiscriminator(ndf=4, input_size=32)(torch.rand(2, 3, 32, 32)).shape == (2, 1)
    assert VGGStyleDiscriminator(ndf=4, input_size=256)(torch.rand(1, 3, 256, 256)).shape == (1, 1)


def _bce(logit, target):
    """BCE with logits of one value, by hand."""
    p = 1 / (1 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


class _FixedD(torch.nn.Module):
    """A "discriminator" returning fixed logits per input (real: 128² of ones, fake: zeros)."""

    def __init__(self, real, fake):
        super().__init__()
        self.real, self.fake = torch.tensor(real)[:, None], torch.tensor(fake)[:, None]
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        is_real = bool(x.flatten(1)[:, 0].eq(1).all())
        return (self.real if is_real else self.fake) * self.scale


def test_relativistic_average_gan_by_hand():
    real, fake = [1.5, -0.5], [0.25, -1.0]
    model = ESRGAN(
        netG=torch.nn.Identity(),
        netD=_FixedD(real, fake),
        gan_mode="vanilla",
        gan_weight=0.005,
        pixel_weight=0.0,
    )
    gt = torch.ones(2, 3, 4, 4)
    out = torch.zeros(2, 3, 4, 4, requires_grad=True)
    mr, mf = sum(real) / 2, sum(fake) / 2
    # G: ½[BCE(D(y) − mean D(G), 0) + BCE(D(G) − mean D(y), 1)] x weight
    g = sum(_bce(r - mf, 0) for r in real) / 2 + sum(_bce(f - mr, 1) for f in fake) / 2
    assert float(model.generator_gan_loss(out, gt)) == pytest.approx(0.005 * g / 2, rel=1e-6)
    # D: ½·BCE(D(y) − mean D(G), 1) and ½·BCE(D(G) − mean D(y), 0), no weight
    model._cache = {}
    d = model.discriminator_losses(out, gt)
    want_real = 0.5 * sum(_bce(r - mf, 1) for r in real) / 2
    want_fake = 0.5 * sum(_bce(f - mr, 0) for f in fake) / 2
    assert float(d["loss_d_real"]) == pytest.approx(want_real, rel=1e-6)
    assert float(d["loss_d_fake"]) == pytest.approx(want_fake, rel=1e-6)
    assert float(model._cache["out_d_real"]) == pytest.approx(mr)
    assert float(model._cache["out_d_fake"]) == pytest.approx(mf)


def test_demo_drawing_is_lr_bicubic_sr_at_the_output_size():
    import numpy as np

    from vision_plugins.super_resolution.visualize import draw_super_resolution

    rgb = np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    sr = torch.full((3, 40, 48), 200.0)
    row = draw_super_resolution(rgb, {"image": sr}, None, 1.0)
    assert row.shape == (40, 3 * 48, 3)
    assert np.array_equal(row[:4, :4], np.broadcast_to(rgb[0, 0], (4, 4, 3)))  # pixels kept
    assert (row[:, 96:] == 200).all()
    # the demo's enlargement (to a 512 px side) counts the x4 of the output: 512/12/4 ≈ 10.7
    assert draw_super_resolution(rgb, {"image": sr}, None, 512 / 12).shape[1] == 3 * 512
    assert draw_super_resolution(rgb, {}, None, 1.0) is None
