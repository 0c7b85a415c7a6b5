"""The pix2pix / CycleGAN networks: output shapes, parameter counts of the official configurations,
checkpoint key layouts (dropout shift, bias and norm rules) and init_weights statistics."""

import pytest
import torch
from torch import nn

from vision_plugins.gan import (
    NLayerDiscriminator,
    PixelDiscriminator,
    ResnetGenerator,
    UnetGenerator,
    get_norm_layer,
    init_weights,
)


def _params(net):
    return sum(p.numel() for p in net.parameters())


@torch.no_grad()
def test_shapes_unet_patchgan_pixel():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 256, 256)
    y = UnetGenerator(3, 3, 8).eval()(x)  # unet_256: 8 stride-2 levels, 256 -> 1 -> 256
    assert y.shape == (1, 3, 256, 256) and y.abs().max() <= 1
    # 70x70 PatchGAN: 256 -> 128 -> 64 -> 32 (stride 2, k4 p1), -> 31 -> 30 (stride 1, k4 p1)
    assert NLayerDiscriminator(6, ndf=8).eval()(torch.cat([x, y], 1)).shape == (1, 1, 30, 30)
    assert PixelDiscriminator(3, ndf=8).eval()(x[:, :, :5, :7]).shape == (1, 1, 5, 7)
    # unet_128 on 128x128, and a resnet generator on a non-square multiple of 4
    assert UnetGenerator(2, 1, 7, ngf=4).eval()(torch.randn(1, 2, 128, 128)).shape == (
        1,
        1,
        128,
        128,
    )
    out = ResnetGenerator(3, 2, ngf=4, n_blocks=2).eval()(torch.randn(2, 3, 36, 44))
    assert out.shape == (2, 2, 36, 44)


def test_parameter_counts_of_official_configurations():
    # measured on the official networks (reference dossier): unet_256 54.414 M (batch norm),
    # resnet_9blocks 11.378 M (instance norm), PatchGAN 2.765 M (3 channels, CycleGAN's instance
    # norm) / 2.769 M (6 channels, pix2pix's batch norm)
    assert _params(UnetGenerator(3, 3, 8, 64, "batch", True)) == 54_413_955
    assert _params(ResnetGenerator(3, 3, 64, "instance", False, 9)) == 11_378_179
    assert _params(NLayerDiscriminator(3, 64, 3, "instance")) == 2_764_737
    assert _params(NLayerDiscriminator(6, 64, 3, "batch")) == 2_768_705


def _keys(net):
    return list(net.state_dict())


def test_resnet_keys_and_dropout_index_shift():
    plain = _keys(ResnetGenerator(3, 3, 8, "instance", False, 9))
    assert [k for k in plain if k.endswith("weight")] == (
        ["model.1.weight", "model.4.weight", "model.7.weight"]
        + [f"model.{i}.conv_block.{j}.weight" for i in range(10, 19) for j in (1, 5)]
        + ["model.19.weight", "model.22.weight", "model.26.weight"]
    )
    assert len(plain) == 48  # instance norm: every conv has a bias, norms add nothing
    dropped = _keys(ResnetGenerator(3, 3, 8, "instance", True, 9))
    assert dropped == [k.replace("conv_block.5", "conv_block.6") for k in plain]
    # zero padding: no pad layers, so the second conv moves to index 3 (4 with dropout)
    zero = _keys(ResnetGenerator(3, 3, 8, "instance", False, 1, "zero"))
    assert "model.10.conv_block.0.weight" in zero and "model.10.conv_block.3.weight" in zero
    with pytest.raises(ValueError, match="padding_type"):
        ResnetGenerator(3, 3, 8, n_blocks=1, padding_type="circular")


def test_unet_keys_are_nested_and_dropout_adds_none():
    keys = _keys(UnetGenerator(3, 3, 8, 8, "batch", False))
    assert keys[:3] == [  # batch norm: even the outermost down-conv has no bias
        "model.model.0.weight",
        "model.model.1.model.1.weight",
        "model.model.1.model.2.weight",
    ]
    assert "model.model.1.model.3.model.1.weight" in keys and len(keys) == 82
    assert _keys(UnetGenerator(3, 3, 8, 8, "batch", True)) == keys  # Dropout is last in a block
    drops = [
        m for m in UnetGenerator(3, 3, 8, 8, "batch", True).modules() if isinstance(m, nn.Dropout)
    ]
    assert len(drops) == 8 - 5 and all(m.p == 0.5 for m in drops)
    # the innermost block has no down-norm: conv, then ConvT and its norm
    inner = "model.model.1" + ".model.3" * 6 + ".model"  # level 8 of 8
    assert (
        f"{inner}.1.weight" in keys and f"{inner}.3.weight" in keys and f"{inner}.4.weight" in keys
    )
    assert f"{inner}.2.weight" not in keys


def test_bias_and_norm_rules():
    # instance norm: affine-free, no running statistics, biases on every conv
    sd = UnetGenerator(3, 3, 6, 8, "instance").state_dict()
    assert not any("running" in k or "num_batches_tracked" in k for k in sd)
    assert all(k.endswith("weight") or k.endswith("bias") for k in sd)
    assert all(k.replace("weight", "bias") in sd for k in sd if k.endswith("weight"))
    norm = get_norm_layer("instance")(4)
    assert norm.affine is False and norm.track_running_stats is False
    bn = get_norm_layer("batch")(4)
    assert isinstance(bn, nn.BatchNorm2d) and bn.affine and bn.track_running_stats
    # batch / none: no bias on convs followed by a norm position (official use_bias rule)
    for norm in ("batch", "none"):
        d = NLayerDiscriminator(3, 8, 3, norm).state_dict()
        assert "model.0.bias" in d and "model.11.bias" in d  # first and last convs keep theirs
        assert "model.2.bias" not in d and "model.8.bias" not in d
        p = PixelDiscriminator(3, 8, norm).state_dict()
        assert list(p) == ["net.0.weight", "net.0.bias", "net.2.weight"] + (
            ["net.3.weight", "net.3.bias", "net.3.running_mean", "net.3.running_var"]
            + ["net.3.num_batches_tracked", "net.5.weight"]
            if norm == "batch"
            else ["net.5.weight"]
        )
    assert "net.5.bias" in PixelDiscriminator(3, 8, "instance").state_dict()
    assert isinstance(get_norm_layer("none")(4), nn.Identity)
    with pytest.raises(ValueError, match="normalisation"):
        get_norm_layer("group")


def test_nlayer_depths():
    """n_layers - 1 stride-2 levels (at least none), then one stride-1 level and the output conv;
    widths double up to 8 * ndf."""
    for n_layers, strides, widths in [
        (0, [2, 1, 1], [4, 4, 1]),
        (1, [2, 1, 1], [4, 8, 1]),
        (3, [2, 2, 2, 1, 1], [4, 8, 16, 32, 1]),
        (5, [2, 2, 2, 2, 2, 1, 1], [4, 8, 16, 32, 32, 32, 1]),
    ]:
        d = NLayerDiscriminator(3, 4, n_layers, "batch")
        convs = [m for m in d.model if isinstance(m, nn.Conv2d)]
        assert [m.stride[0] for m in convs] == strides
        assert [m.out_channels for m in convs] == widths
        assert [i for i, m in enumerate(d.model) if isinstance(m, nn.Conv2d)] == [0] + [
            2 + 3 * k for k in range(len(convs) - 1)
        ]


def _conv_weights(net):
    return torch.cat([m.weight.flatten() for m in net.modules() if isinstance(m, nn.Conv2d)])


def test_init_weights_normal_statistics():
    torch.manual_seed(0)
    net = init_weights(NLayerDiscriminator(6, 64, 3, "batch"), "normal", 0.05)
    w = _conv_weights(net)
    assert abs(w.std().item() - 0.05) < 5e-4 and abs(w.mean().item()) < 5e-4
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.bias is not None]
    assert convs and all(torch.count_nonzero(m.bias) == 0 for m in convs)
    bn = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    gamma = torch.cat([m.weight for m in bn]).detach()
    assert gamma.numel() == 896 and abs(gamma.mean().item() - 1) < 0.005
    assert abs(gamma.std().item() - 0.05) < 0.005
    assert all(torch.count_nonzero(m.bias) == 0 for m in bn)
    # ConvTranspose2d weights are initialised too ("Conv" in the class name)
    g = init_weights(ResnetGenerator(3, 3, 16, "instance", False, 1), "normal", 0.02)
    ct = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(ct.std().item() - 0.02) < 5e-4


def test_init_weights_xavier_kaiming_orthogonal():
    conv = nn.Conv2d(64, 128, 4)  # fan_in 1024, fan_out 2048
    torch.manual_seed(0)
    init_weights(conv, "xavier", 0.5)
    assert abs(conv.weight.std().item() - 0.5 * (2 / 3072) ** 0.5) < 2e-4
    init_weights(conv, "kaiming", 0.5)  # the gain is not used
    assert abs(conv.weight.std().item() - (2 / 1024) ** 0.5) < 3e-4
    init_weights(conv, "orthogonal", 0.5)
    w = conv.weight.detach().flatten(1)
    torch.testing.assert_close(w @ w.T, 0.25 * torch.eye(128), atol=1e-5, rtol=0)
    assert torch.count_nonzero(conv.bias) == 0
    with pytest.raises(ValueError, match="init_type"):
        init_weights(conv, "uniform")


def test_init_weights_leaves_syncbatchnorm_and_affine_free_norms():
    # SyncBatchNorm's class name has no "BatchNorm2d": the official rule leaves it at 1 / 0
    net = init_weights(NLayerDiscriminator(3, 8, 2, "syncbatch"), "normal", 0.02)
    sbn = [m for m in net.modules() if isinstance(m, nn.SyncBatchNorm)]
    assert sbn and all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in sbn)
    init_weights(UnetGenerator(3, 3, 5, 4, "instance"), "normal", 0.02)  # weight None: skipped


def test_unet_skip_carries_activated_input():
    """The official in-place LeakyReLU overwrites a block's input before the concatenation."""
    block = UnetGenerator(3, 3, 5, 2, "none").model.model[1]
    x = torch.randn(1, 2, 16, 16)  # the second level's input: ngf channels
    y = block(x.clone())
    assert y.shape == (1, 4, 16, 16)
    torch.testing.assert_close(y[:, :2], nn.functional.leaky_relu(x, 0.2))


def test_to_grayscale_is_pils_convert_l():
    """The model-side conversion (Predictor gives RGB to a 1-channel model) = PIL's
    ``convert("L")``, the official ``transforms.Grayscale``, on every input value."""
    import numpy as np
    from PIL import Image

    from vision_plugins.gan.model import to_grayscale

    rgb = np.random.default_rng(0).integers(0, 256, (37, 41, 3), dtype=np.uint8)
    rgb[0, :3] = [[0, 0, 0], [255, 255, 255], [255, 0, 128]]
    ours = to_grayscale(torch.from_numpy(rgb).permute(2, 0, 1)[None].float())
    assert ours.shape == (1, 1, 37, 41)
    pil = np.asarray(Image.fromarray(rgb).convert("L"))
    assert np.array_equal(ours[0, 0].numpy().astype(np.uint8), pil)
