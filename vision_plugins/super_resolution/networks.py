"""Super-resolution generators and discriminators.

- :class:`SRResNet`: the generator of Ledig et al. (CVPR 2017, "SRGAN") as the paper describes
  it: 9x9 head conv + PReLU, residual blocks [conv, BN, PReLU, conv, BN, + x], conv + BN + long
  skip, one [conv 64 -> 256, PixelShuffle(2), PReLU] per factor 2, 9x9 tail conv. There is no
  official code, so the key names are ours.
- :class:`MSRResNet`: BasicSR's *modified* SRResNet (no BN, ReLU inside the blocks, LeakyReLU
  0.1 elsewhere, bilinear global residual), with BasicSR's module names -- its checkpoints
  (``net_g_*.pth``) load as a prefix strip.
- :class:`RRDBNet`: ESRGAN's generator (Wang et al., ECCVW 2018) with the module names of the
  official xinntao/ESRGAN ``RRDBNet_arch.py`` (``RRDB_trunk.N.RDB1.conv1``, ``trunk_conv``,
  ``upconv1/2``, ``HRconv``); ``convert.py`` maps the old ``architecture.py`` (``model.*``) and
  the BasicSR (``body.N.rdb1``, ``conv_body`` ...) key schemes onto it.
- :class:`SRGANDiscriminator`: the paper's discriminator (8 convs 64 -> 512, BN from the second,
  LeakyReLU 0.2, Dense 1024, Dense 1); returns logits (the sigmoid is in the loss).
- :class:`VGGStyleDiscriminator`: BasicSR's (``conv0_0`` ... ``linear2``, 128x128 or 256x256
  inputs only).

The generators map an image in [0, 1] to its ``scale``-times larger version (no output
activation). Their own initialisation is BasicSR's (Kaiming-normal x 0.1 on the residual
branches); the discriminators keep PyTorch's defaults, as BasicSR.
"""

import math

import torch
from detectron2.config import configurable
from torch import nn
from torch.nn import functional as F
from torch.nn import init

__all__ = [
    "scaled_kaiming_init",
    "SRResNet",
    "MSRResNet",
    "RRDBNet",
    "ResidualDenseBlock",
    "RRDB",
    "SRGANDiscriminator",
    "VGGStyleDiscriminator",
]


def scaled_kaiming_init(modules, scale=0.1):
    """BasicSR's ``default_init_weights``: Kaiming-normal (fan_in, a=0) weights multiplied by
    ``scale`` and zero biases for every Conv2d / Linear inside ``modules``; BatchNorm weights 1,
    biases 0."""
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                init.kaiming_normal_(m.weight)
                m.weight.data.mul_(scale)
                if m.bias is not None:
                    m.bias.data.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                init.constant_(m.weight, 1)
                m.bias.data.zero_()


def _check_scale(name, scale, allowed):
    if scale not in allowed:
        raise ValueError(
            f"{name}: INPUT.SR.SCALE={scale} is not supported; supported scales: {allowed}"
        )


def _generator_args(cfg, input_nc, output_nc):
    g = cfg.MODEL.GAN
    return {
        "input_nc": g.INPUT_NC if input_nc is None else input_nc,
        "output_nc": g.OUTPUT_NC if output_nc is None else output_nc,
        "num_feat": g.NGF,
        "num_block": g.N_BLOCKS,
        "scale": cfg.INPUT.SR.SCALE,
    }


def _inference_path():
    """No gradients, not tracing / scripting: the generators may work in place."""
    return not (torch.is_grad_enabled() or torch.jit.is_tracing() or torch.jit.is_scripting())


class _PaperResidualBlock(nn.Module):
    """[conv3x3, BN, PReLU, conv3x3, BN] + x (SRGAN paper, Fig. 4)."""

    def __init__(self, num_feat):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.bn1 = nn.BatchNorm2d(num_feat)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(num_feat)

    def forward(self, x):
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


class SRResNet(nn.Module):
    """The SRGAN paper's generator ("SRResNet", Fig. 4): ``head`` (9x9 conv + PReLU),
    ``body.N`` residual blocks with BatchNorm, ``body_conv`` + ``body_bn`` then the long skip
    from the head, ``upsample.K`` (conv to 4x channels, PixelShuffle(2), PReLU) per factor 2
    (scales 2, 4, 8), ``tail`` (9x9 conv). PReLU has one slope per layer (Keras/Lasagne
    default of the paper's era; PyTorch's ``nn.PReLU()``)."""

    @configurable
    def __init__(self, input_nc=3, output_nc=3, num_feat=64, num_block=16, scale=4):
        super().__init__()
        _check_scale("SRResNet", scale, (2, 4, 8))
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(input_nc, num_feat, 9, 1, 4), nn.PReLU())
        self.body = nn.Sequential(*[_PaperResidualBlock(num_feat) for _ in range(num_block)])
        self.body_conv = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.body_bn = nn.BatchNorm2d(num_feat)
        ups = []
        for _ in range(int(math.log2(scale))):
            ups.append(
                nn.Sequential(
                    nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU()
                )
            )
        self.upsample = nn.Sequential(*ups)
        self.tail = nn.Conv2d(num_feat, output_nc, 9, 1, 4)

    @classmethod
    def from_config(cls, cfg, input_nc=None, output_nc=None):
        return _generator_args(cfg, input_nc, output_nc)

    def forward(self, x):
        feat = self.head(x)
        out = self.body_bn(self.body_conv(self.body(feat))) + feat
        return self.tail(self.upsample(out))


class _ResidualBlockNoBN(nn.Module):
    """BasicSR's ``ResidualBlockNoBN``: x + conv2(ReLU(conv1(x)))."""

    def __init__(self, num_feat):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x):
        if _inference_path():  # in place on fresh tensors: the same values, fewer allocations
            return self.conv2(F.relu(self.conv1(x), inplace=True)).add_(x)
        return x + self.conv2(F.relu(self.conv1(x)))


class MSRResNet(nn.Module):
    """BasicSR's modified SRResNet (keys ``conv_first``, ``body.N.conv{1,2}``, ``upconv1``
    [``upconv2`` for x4], ``conv_hr``, ``conv_last``): LeakyReLU(0.1) after ``conv_first``,
    each PixelShuffle and ``conv_hr``; no BatchNorm, no long skip over the body; the output adds
    the bilinear (align_corners=False) upsampling of the input. Scales 2, 3, 4; 1.518 M
    parameters at 64 features / 16 blocks / x4."""

    @configurable
    def __init__(self, input_nc=3, output_nc=3, num_feat=64, num_block=16, scale=4):
        super().__init__()
        _check_scale("MSRResNet", scale, (2, 3, 4))
        self.scale = scale
        self.conv_first = nn.Conv2d(input_nc, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[_ResidualBlockNoBN(num_feat) for _ in range(num_block)])
        factor = 3 if scale == 3 else 2
        self.upconv1 = nn.Conv2d(num_feat, num_feat * factor * factor, 3, 1, 1)
        self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1) if scale == 4 else None
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, output_nc, 3, 1, 1)
        scaled_kaiming_init(
            [self.conv_first, self.upconv1, self.conv_hr, self.conv_last, self.body]
        )
        if self.upconv2 is not None:
            scaled_kaiming_init([self.upconv2])

    @classmethod
    def from_config(cls, cfg, input_nc=None, output_nc=None):
        return _generator_args(cfg, input_nc, output_nc)

    def forward(self, x):
        inplace = _inference_path()  # LeakyReLU / residual in place: same values, no copies
        out = self.body(F.leaky_relu(self.conv_first(x), 0.1, inplace))
        if self.scale == 3:
            out = F.leaky_relu(F.pixel_shuffle(self.upconv1(out), 3), 0.1, inplace)
        else:
            out = F.leaky_relu(F.pixel_shuffle(self.upconv1(out), 2), 0.1, inplace)
            if self.upconv2 is not None:
                out = F.leaky_relu(F.pixel_shuffle(self.upconv2(out), 2), 0.1, inplace)
        out = self.conv_last(F.leaky_relu(self.conv_hr(out), 0.1, inplace))
        base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return out.add_(base) if inplace else out + base


class ResidualDenseBlock(nn.Module):
    """ESRGAN's ``ResidualDenseBlock_5C``: five 3x3 convs, each seeing the block input and all
    previous outputs (growth ``gc``), LeakyReLU(0.2) after the first four; x + 0.2 * conv5."""

    def __init__(self, nf=64, gc=32):
        super().__init__()
        for i in range(4):
            setattr(self, f"conv{i + 1}", nn.Conv2d(nf + i * gc, gc, 3, 1, 1))
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)
        scaled_kaiming_init([self.conv1, self.conv2, self.conv3, self.conv4, self.conv5], 0.1)

    def forward(self, x):
        feats, inplace = [x], _inference_path()  # LeakyReLU in place: same values
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), 0.2, inplace))
        return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: x + 0.2 * RDB3(RDB2(RDB1(x)))."""

    def __init__(self, nf, gc=32):
        super().__init__()
        self.RDB1 = ResidualDenseBlock(nf, gc)
        self.RDB2 = ResidualDenseBlock(nf, gc)
        self.RDB3 = ResidualDenseBlock(nf, gc)

    def forward(self, x):
        return self.RDB3(self.RDB2(self.RDB1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN's generator, x4 (the official ``RRDBNet(3, 3, 64, 23, gc=32)``: 16.698 M
    parameters): ``conv_first``; ``RRDB_trunk`` of ``num_block`` RRDBs then ``trunk_conv``,
    added to the head features; twice nearest x2 upsampling + ``upconv{1,2}`` + LeakyReLU(0.2);
    ``HRconv`` + LeakyReLU(0.2); ``conv_last``. MODEL.GAN.GROWTH_CHANNELS = ``gc``."""

    @configurable
    def __init__(self, input_nc=3, output_nc=3, num_feat=64, num_block=23, gc=32, scale=4):
        super().__init__()
        _check_scale("RRDBNet", scale, (4,))
        self.scale = scale
        self.conv_first = nn.Conv2d(input_nc, num_feat, 3, 1, 1)
        self.RRDB_trunk = nn.Sequential(*[RRDB(num_feat, gc) for _ in range(num_block)])
        self.trunk_conv = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.upconv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.upconv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.HRconv = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, output_nc, 3, 1, 1)

    @classmethod
    def from_config(cls, cfg, input_nc=None, output_nc=None):
        return {**_generator_args(cfg, input_nc, output_nc), "gc": cfg.MODEL.GAN.GROWTH_CHANNELS}

    def forward(self, x):
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.RRDB_trunk(fea))
        up, inplace = F.interpolate, _inference_path()
        fea = F.leaky_relu(self.upconv1(up(fea, scale_factor=2, mode="nearest")), 0.2, inplace)
        fea = F.leaky_relu(self.upconv2(up(fea, scale_factor=2, mode="nearest")), 0.2, inplace)
        return self.conv_last(F.leaky_relu(self.HRconv(fea), 0.2, inplace))


def _check_input_size(name, x, size):
    if x.shape[-2:] != (size, size):
        raise ValueError(
            f"{name} takes {size}x{size} images (MODEL.GAN.D.INPUT_SIZE={size}, the GT crop "
            f"INPUT.SR.GT_SIZE must equal it); got {tuple(x.shape[-2:])}"
        )


class SRGANDiscriminator(nn.Module):
    """The SRGAN paper's discriminator (Fig. 4): conv3x3 ``ndf`` + LeakyReLU(0.2), then seven
    [conv3x3, BN, LeakyReLU(0.2)] with channels ndf, 2ndf, 2ndf, 4ndf, 4ndf, 8ndf, 8ndf and
    strides 2, 1, 2, 1, 2, 1, 2 (``features``), then ``classifier``: Dense(1024), LeakyReLU(0.2),
    Dense(1). Returns the logit (the paper's sigmoid is in the BCE loss). The dense layer fixes
    the input size (``input_size``, a multiple of 16; the paper's crops are 96x96)."""

    @configurable
    def __init__(self, input_nc=3, ndf=64, input_size=96):
        super().__init__()
        if input_size % 16:
            raise ValueError(
                f"SRGANDiscriminator: MODEL.GAN.D.INPUT_SIZE={input_size} is not a "
                "multiple of 16"
            )
        self.input_size = input_size
        layers = [nn.Conv2d(input_nc, ndf, 3, 1, 1), nn.LeakyReLU(0.2, True)]
        plan = [(ndf, 2), (2 * ndf, 1), (2 * ndf, 2), (4 * ndf, 1), (4 * ndf, 2), (8 * ndf, 1)]
        plan.append((8 * ndf, 2))
        channels = ndf
        for out, stride in plan:
            layers += [
                nn.Conv2d(channels, out, 3, stride, 1, bias=False),
                nn.BatchNorm2d(out),
                nn.LeakyReLU(0.2, True),
            ]
            channels = out
        self.features = nn.Sequential(*layers)
        side = input_size // 16
        self.classifier = nn.Sequential(
            nn.Linear(channels * side * side, 1024), nn.LeakyReLU(0.2, True), nn.Linear(1024, 1)
        )

    @classmethod
    def from_config(cls, cfg, input_nc=None):
        d = cfg.MODEL.GAN.D
        nc = cfg.MODEL.GAN.OUTPUT_NC if input_nc is None else input_nc
        return {"input_nc": nc, "ndf": d.NDF, "input_size": d.INPUT_SIZE}

    def forward(self, x):
        _check_input_size("SRGANDiscriminator", x, self.input_size)
        return self.classifier(torch.flatten(self.features(x), 1))


class VGGStyleDiscriminator(nn.Module):
    """BasicSR's ``VGGStyleDiscriminator`` (keys ``conv0_0``, ``conv0_1``, ``bn0_1``, ...,
    ``conv4_1``, ``bn4_1`` [+ ``conv5_*`` for 256x256], ``linear1``, ``linear2``): five
    [conv3x3 s1, conv4x4 s2] pairs (channels ndf, 2ndf, 4ndf, 8ndf, 8ndf; BatchNorm after
    every conv but the first; LeakyReLU 0.2), Dense(100), LeakyReLU 0.2, Dense(1). Inputs of
    exactly ``input_size`` (128 or 256). 14.5 M parameters at ndf 64 / 128."""

    @configurable
    def __init__(self, input_nc=3, ndf=64, input_size=128):
        super().__init__()
        if input_size not in (128, 256):
            raise ValueError(
                f"VGGStyleDiscriminator: MODEL.GAN.D.INPUT_SIZE={input_size}; BasicSR's network "
                "takes 128 or 256"
            )
        self.input_size = input_size
        chans = [ndf, ndf * 2, ndf * 4, ndf * 8, ndf * 8] + ([ndf * 8] if input_size == 256 else [])
        self.num_levels = len(chans)
        prev = input_nc
        for i, c in enumerate(chans):
            first = nn.Conv2d(prev, c, 3, 1, 1, bias=(i == 0))
            setattr(self, f"conv{i}_0", first)
            if i > 0:
                setattr(self, f"bn{i}_0", nn.BatchNorm2d(c, affine=True))
            setattr(self, f"conv{i}_1", nn.Conv2d(c, c, 4, 2, 1, bias=False))
            setattr(self, f"bn{i}_1", nn.BatchNorm2d(c, affine=True))
            prev = c
        self.linear1 = nn.Linear(prev * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)

    @classmethod
    def from_config(cls, cfg, input_nc=None):
        d = cfg.MODEL.GAN.D
        nc = cfg.MODEL.GAN.OUTPUT_NC if input_nc is None else input_nc
        return {"input_nc": nc, "ndf": d.NDF, "input_size": d.INPUT_SIZE}

    def forward(self, x):
        _check_input_size("VGGStyleDiscriminator", x, self.input_size)
        feat = F.leaky_relu(self.conv0_0(x), 0.2)
        feat = F.leaky_relu(self.bn0_1(self.conv0_1(feat)), 0.2)
        for i in range(1, self.num_levels):
            feat = F.leaky_relu(getattr(self, f"bn{i}_0")(getattr(self, f"conv{i}_0")(feat)), 0.2)
            feat = F.leaky_relu(getattr(self, f"bn{i}_1")(getattr(self, f"conv{i}_1")(feat)), 0.2)
        feat = F.leaky_relu(self.linear1(torch.flatten(feat, 1)), 0.2)
        return self.linear2(feat)
