"""``TransformerNet``: the image transformation network of Johnson et al. (ECCV 2016) in the
module layout of pytorch/examples ``fast_neural_style`` (@77f55b9), so its ``.pth`` files load by
key (``conv1.conv2d.weight``, ``in1.weight``, ``res1.conv1.conv2d.*``, ``deconv{1,2,3}.conv2d.*``).

Reflection-padded convolutions (pad = kernel // 2): 9×9 → NGF, 3×3 stride 2 → 2·NGF, 3×3 stride 2
→ 4·NGF, each followed by ``InstanceNorm2d(affine=True)`` (instance statistics, no running ones)
and ReLU; N_BLOCKS residual blocks (conv, IN, ReLU, conv, IN, + x); two × (nearest ×2 upsample,
3×3 conv, IN, ReLU) back to 2·NGF and NGF; a 9×9 conv to 3 channels with **no output activation**.
Input and output are 0..255 images (the official 5 blocks and NGF 32: 1.679 M parameters)."""

from detectron2.config import configurable
from torch import nn
from torch.nn import functional as F

from ..gan import GAN_GENERATOR_REGISTRY

__all__ = ["TransformerNet", "ReflectConv", "ResidualBlock"]


class ReflectConv(nn.Module):
    """(optional nearest ×``upsample``) → reflection pad ``kernel // 2`` → ``conv2d``."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, upsample=None):
        super().__init__()
        self.upsample = upsample
        self.pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        if self.upsample:
            x = F.interpolate(x, scale_factor=self.upsample, mode="nearest")
        return self.conv2d(self.pad(x))


class ResidualBlock(nn.Module):
    """x + IN(conv(ReLU(IN(conv(x))))) with 3×3 reflection-padded convolutions."""

    def __init__(self, channels):
        super().__init__()
        self.conv1 = ReflectConv(channels, channels, 3)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ReflectConv(channels, channels, 3)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)
        self.relu = nn.ReLU()

    def forward(self, x):
        return x + self.in2(self.conv2(self.relu(self.in1(self.conv1(x)))))


class TransformerNet(nn.Module):
    """See the module docstring. ``MODEL.GAN.NGF`` (official 32) and ``N_BLOCKS`` (5); input /
    output channels ``MODEL.GAN.INPUT_NC`` / ``OUTPUT_NC`` (3)."""

    @configurable
    def __init__(self, *, input_nc=3, output_nc=3, ngf=32, n_blocks=5):
        super().__init__()
        c1, c2, c3 = ngf, 2 * ngf, 4 * ngf
        self.conv1 = ReflectConv(input_nc, c1, 9)
        self.in1 = nn.InstanceNorm2d(c1, affine=True)
        self.conv2 = ReflectConv(c1, c2, 3, stride=2)
        self.in2 = nn.InstanceNorm2d(c2, affine=True)
        self.conv3 = ReflectConv(c2, c3, 3, stride=2)
        self.in3 = nn.InstanceNorm2d(c3, affine=True)
        self.n_blocks = n_blocks
        for i in range(1, n_blocks + 1):
            self.add_module(f"res{i}", ResidualBlock(c3))
        self.deconv1 = ReflectConv(c3, c2, 3, upsample=2)
        self.in4 = nn.InstanceNorm2d(c2, affine=True)
        self.deconv2 = ReflectConv(c2, c1, 3, upsample=2)
        self.in5 = nn.InstanceNorm2d(c1, affine=True)
        self.deconv3 = ReflectConv(c1, output_nc, 9)
        self.relu = nn.ReLU()

    @classmethod
    def from_config(cls, cfg, input_nc=None, output_nc=None):
        g = cfg.MODEL.GAN
        return {
            "input_nc": g.INPUT_NC if input_nc is None else input_nc,
            "output_nc": g.OUTPUT_NC if output_nc is None else output_nc,
            "ngf": g.NGF,
            "n_blocks": g.N_BLOCKS,
        }

    def forward(self, x):
        y = self.relu(self.in1(self.conv1(x)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        for i in range(1, self.n_blocks + 1):
            y = getattr(self, f"res{i}")(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


GAN_GENERATOR_REGISTRY.register(TransformerNet)
