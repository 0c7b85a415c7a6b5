"""RetinaFace backbones: MobileNetV1-0.25 or a torchvision-style ResNet, then FPN3 and SSH.

``build_retinaface_mnet_backbone`` / ``build_retinaface_resnet_backbone`` (BACKBONE_REGISTRY)
return a ``RetinaFaceFPN`` whose outputs ``p3``, ``p4``, ``p5`` (strides 8, 16, 32) are the SSH
features the heads read, as in biubug6/Pytorch_Retinaface:

- FPN3: 1x1 conv-BN-act laterals; the coarser map is upsampled (nearest) to the lateral's size,
  added, and passed through a 3x3 conv-BN-act (``merge2`` then ``merge1``);
- SSH per level: 3x3 conv-BN (C/2) || 3x3 conv-BN-act -> 3x3 conv-BN (C/4) || the same branch ->
  3x3 conv-BN-act -> 3x3 conv-BN (C/4), concatenated, ReLU;
- act = LeakyReLU(0.1) when the width is <= 64, else ReLU.
Parameter names follow the reference (``output1..3``, ``merge1/2``, ``ssh1..3.conv3X3`` ...).
"""

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from torch import nn

from ..layers.resnet import build_resnet

__all__ = ["MobileNetV1", "RetinaFaceFPN", "SSH", "build_retinaface_mnet_backbone",
           "build_retinaface_resnet_backbone"]  # fmt: skip


def conv_bn(cin, cout, kernel=3, stride=1, leaky=None):
    """Conv (no bias) - BN [- LeakyReLU(leaky)] as one ``nn.Sequential`` (indices 0, 1, 2)."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    if leaky is not None:
        layers.append(nn.LeakyReLU(leaky, inplace=True))
    return nn.Sequential(*layers)


def conv_dw(cin, cout, stride, leaky=0.1):
    """Depthwise 3x3 - BN - act - pointwise 1x1 - BN - act (indices 0..5)."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
        nn.LeakyReLU(leaky, inplace=True),
        nn.Conv2d(cin, cout, 1, 1, 0, bias=False), nn.BatchNorm2d(cout),
        nn.LeakyReLU(leaky, inplace=True),
    )  # fmt: skip


class MobileNetV1(Backbone):
    """MobileNetV1 at width 0.25 as the reference builds it (stem 3 -> 8, stride 2), outputs
    ``stage1`` (64 ch, stride 8), ``stage2`` (128, 16), ``stage3`` (256, 32)."""

    def __init__(self, in_channels=3):
        super().__init__()
        self.stage1 = nn.Sequential(
            conv_bn(in_channels, 8, stride=2, leaky=0.1), conv_dw(8, 16, 1), conv_dw(16, 32, 2),
            conv_dw(32, 32, 1), conv_dw(32, 64, 2), conv_dw(64, 64, 1),
        )  # fmt: skip
        self.stage2 = nn.Sequential(conv_dw(64, 128, 2), *[conv_dw(128, 128, 1) for _ in range(5)])
        self.stage3 = nn.Sequential(conv_dw(128, 256, 2), conv_dw(256, 256, 1))
        self._out_features = ["stage1", "stage2", "stage3"]
        self._out_feature_channels = {"stage1": 64, "stage2": 128, "stage3": 256}
        self._out_feature_strides = {"stage1": 8, "stage2": 16, "stage3": 32}

    def forward(self, x):
        s1 = self.stage1(x)
        s2 = self.stage2(s1)
        return {"stage1": s1, "stage2": s2, "stage3": self.stage3(s2)}


class SSH(nn.Module):
    def __init__(self, channels):
        super().__init__()
        if channels % 4:
            raise ValueError(
                f"MODEL.RETINAFACE.OUT_CHANNELS must be a multiple of 4, got {channels}"
            )
        leaky = 0.1 if channels <= 64 else 0.0
        self.conv3X3 = conv_bn(channels, channels // 2)
        self.conv5X5_1 = conv_bn(channels, channels // 4, leaky=leaky)
        self.conv5X5_2 = conv_bn(channels // 4, channels // 4)
        self.conv7X7_2 = conv_bn(channels // 4, channels // 4, leaky=leaky)
        self.conv7x7_3 = conv_bn(channels // 4, channels // 4)

    def forward(self, x):
        c5 = self.conv5X5_1(x)
        out = torch.cat(
            [self.conv3X3(x), self.conv5X5_2(c5), self.conv7x7_3(self.conv7X7_2(c5))], 1
        )
        return F.relu(out)


class RetinaFaceFPN(Backbone):
    @configurable
    def __init__(self, *, bottom_up, in_features, out_channels):
        super().__init__()
        self.bottom_up = bottom_up
        self.in_features = list(in_features)
        shapes = bottom_up.output_shape()
        leaky = 0.1 if out_channels <= 64 else 0.0
        c = [shapes[f].channels for f in self.in_features]
        self.output1 = conv_bn(c[0], out_channels, 1, leaky=leaky)
        self.output2 = conv_bn(c[1], out_channels, 1, leaky=leaky)
        self.output3 = conv_bn(c[2], out_channels, 1, leaky=leaky)
        self.merge1 = conv_bn(out_channels, out_channels, leaky=leaky)
        self.merge2 = conv_bn(out_channels, out_channels, leaky=leaky)
        self.ssh1, self.ssh2, self.ssh3 = SSH(out_channels), SSH(out_channels), SSH(out_channels)
        names = ["p3", "p4", "p5"]
        self._out_features = names
        self._out_feature_channels = {n: out_channels for n in names}
        self._out_feature_strides = {n: shapes[f].stride for n, f in zip(names, self.in_features)}

    @classmethod
    def from_config(cls, cfg, input_shape, bottom_up):
        return {
            "bottom_up": bottom_up,
            "in_features": cfg.MODEL.RETINAFACE.IN_FEATURES,
            "out_channels": cfg.MODEL.RETINAFACE.OUT_CHANNELS,
        }

    def forward(self, x):
        feats = self.bottom_up(x)
        c3, c4, c5 = (feats[f] for f in self.in_features)
        o1, o2, o3 = self.output1(c3), self.output2(c4), self.output3(c5)
        o2 = self.merge2(o2 + F.interpolate(o3, size=o2.shape[-2:], mode="nearest"))
        o1 = self.merge1(o1 + F.interpolate(o2, size=o1.shape[-2:], mode="nearest"))
        return {"p3": self.ssh1(o1), "p4": self.ssh2(o2), "p5": self.ssh3(o3)}


@BACKBONE_REGISTRY.register()
def build_retinaface_mnet_backbone(cfg, input_shape: ShapeSpec):
    return RetinaFaceFPN(cfg, input_shape, bottom_up=MobileNetV1(input_shape.channels))


@BACKBONE_REGISTRY.register()
def build_retinaface_resnet_backbone(cfg, input_shape: ShapeSpec):
    """torchvision-style detectron2 ResNet (MODEL.RESNETS: DEPTH, NORM, STRIDE_IN_1X1=False),
    res3-res5 (MODEL.RETINAFACE.IN_FEATURES = res3, res4, res5)."""
    bottom_up = build_resnet(cfg, input_shape, cfg.MODEL.RETINAFACE.IN_FEATURES)
    return RetinaFaceFPN(cfg, input_shape, bottom_up=bottom_up)
