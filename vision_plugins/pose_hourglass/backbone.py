"""The Stacked Hourglass network (Newell et al., ECCV 2016) as a detectron2 ``Backbone``.

Written from the description of princeton-vl/pytorch_stacked_hourglass ``PoseNet``; module
attribute names follow its checkpoint layout, so ``convert.py`` is a prefix strip:

- ``pre``: 7x7/2 conv (64, BN, ReLU) -> Residual(64, 128) -> 2x2 max-pool -> Residual(128, 128)
  -> Residual(128, INP_DIM): stride 4.
- ``hgs.{i}.0``: a depth-4 hourglass; each level is ``up1`` (Residual) + nearest-upsampled
  ``low3(low2(low1(maxpool(x))))``, ``low2`` being the next level (a Residual at the bottom).
- ``features.{i}``: Residual + 1x1 conv-BN-ReLU; ``outs.{i}``: 1x1 conv to the joint heatmaps.
- Between stacks: ``x = x + merge_preds.{i}(heatmaps) + merge_features.{i}(features)``.

``Residual`` is a pre-activation bottleneck (BN-ReLU-1x1-BN-ReLU-3x3-BN-ReLU-1x1, biased convs)
whose 1x1 conv ``skip_layer`` is always created, as in the official module, but is the shortcut
only when the input and output widths differ (identity otherwise): official checkpoints, which
hold these unused parameters, load strictly.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone

from ..layers import FoldedConvBN

__all__ = ["PoseHourglassBackbone", "build_pose_hourglass_backbone", "HOURGLASS_DEPTH"]

HOURGLASS_DEPTH = 4  # downsamplings per hourglass (fixed in the official network)
STRIDE = 4  # of ``pre`` and of the heatmaps


class ConvBlock(nn.Module):
    """Biased ``k x k`` conv ("same" padding), then optional BatchNorm and ReLU."""

    def __init__(self, in_channels, out_channels, kernel_size=1, stride=1, bn=False, relu=False):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding=(kernel_size - 1) // 2
        )
        self.bn = nn.BatchNorm2d(out_channels) if bn else None
        self.relu = relu
        self._fold = FoldedConvBN()

    def forward(self, x):
        if self.bn is None:
            x = self.conv(x)
        elif self.training or torch.is_grad_enabled():
            x = self.bn(self.conv(x))
        else:
            x = self._fold(self.conv, self.bn, x)
        return F.relu(x, inplace=True) if self.relu else x


class Residual(nn.Module):
    """Pre-activation bottleneck; ``skip_layer`` (always created) is the shortcut iff the widths
    differ."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        mid = out_channels // 2
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = ConvBlock(in_channels, mid, 1)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv2 = ConvBlock(mid, mid, 3)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv3 = ConvBlock(mid, out_channels, 1)
        self.skip_layer = ConvBlock(in_channels, out_channels, 1)
        self.need_skip = in_channels != out_channels
        self._fold2, self._fold3 = FoldedConvBN(), FoldedConvBN()

    def forward(self, x):
        shortcut = self.skip_layer(x) if self.need_skip else x
        out = F.relu(self.bn1(x), inplace=True)
        if self.training or torch.is_grad_enabled():
            out = F.relu(self.bn2(self.conv1(out)), inplace=True)
            out = F.relu(self.bn3(self.conv2(out)), inplace=True)
        else:  # inference: bn2 and bn3 folded into conv1 and conv2 (≈ 5 % faster here)
            out = F.relu(self._fold2(self.conv1.conv, self.bn2, out), inplace=True)
            out = F.relu(self._fold3(self.conv2.conv, self.bn3, out), inplace=True)
        out = self.conv3(out)
        out += shortcut
        return out


class Hourglass(nn.Module):
    """One hourglass level (recursive): ``up1(x) + upsample(low3(low2(low1(maxpool(x)))))``."""

    def __init__(self, depth, channels, increase=0):
        super().__init__()
        inner = channels + increase
        self.up1 = Residual(channels, channels)
        self.low1 = Residual(channels, inner)
        self.low2 = Hourglass(depth - 1, inner) if depth > 1 else Residual(inner, inner)
        self.low3 = Residual(inner, channels)

    def forward(self, x):
        low = self.low3(self.low2(self.low1(F.max_pool2d(x, 2, 2))))
        out = self.up1(x)
        out += F.interpolate(low, scale_factor=2, mode="nearest")
        return out


class Merge(nn.Module):
    """1x1 conv mapping one stack's heatmaps or features back into the next stack's input."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = ConvBlock(in_channels, out_channels, 1)

    def forward(self, x):
        return self.conv(x)


class PoseHourglassBackbone(Backbone):
    """Stacked Hourglass: NCHW normalised images -> every stack's joint heatmaps.

    Input: (N, C, H, W) float, H and W divisible by 64 (``size_divisibility``); the official
    recipe feeds 256x256 RGB pixels / 255 (``PIXEL_MEAN=0``, ``PIXEL_STD=255``, ``FORMAT=RGB``).

    Output: ``{"hm0": ..., "hm{nstack-1}": ...}``, each (N, OUP_DIM, H/4, W/4) raw heatmaps (1x1
    conv, no activation) of one stack, in stack order (``self._out_features``). Intermediate
    supervision applies the loss to every entry; prediction uses the last,
    ``self._out_features[-1]``. ``torch.stack([out[f] for f in self._out_features], 1)`` is the
    official ``PoseNet`` output (N x nstack x K x H/4 x W/4).
    """

    @configurable
    def __init__(self, *, in_channels=3, nstack, inp_dim=256, oup_dim=16, increase=0):
        super().__init__()
        self.pre = nn.Sequential(
            ConvBlock(in_channels, 64, 7, stride=2, bn=True, relu=True),
            Residual(64, 128),
            nn.MaxPool2d(2, 2),
            Residual(128, 128),
            Residual(128, inp_dim),
        )
        self.hgs = nn.ModuleList(
            nn.Sequential(Hourglass(HOURGLASS_DEPTH, inp_dim, increase)) for _ in range(nstack)
        )
        self.features = nn.ModuleList(
            nn.Sequential(
                Residual(inp_dim, inp_dim), ConvBlock(inp_dim, inp_dim, 1, bn=True, relu=True)
            )
            for _ in range(nstack)
        )
        self.outs = nn.ModuleList(ConvBlock(inp_dim, oup_dim, 1) for _ in range(nstack))
        self.merge_features = nn.ModuleList(Merge(inp_dim, inp_dim) for _ in range(nstack - 1))
        self.merge_preds = nn.ModuleList(Merge(oup_dim, inp_dim) for _ in range(nstack - 1))
        self._out_features = [f"hm{i}" for i in range(nstack)]
        self._out_feature_channels = {f: oup_dim for f in self._out_features}
        self._out_feature_strides = {f: STRIDE for f in self._out_features}

    @classmethod
    def from_config(cls, cfg, input_shape):
        c = cfg.MODEL.POSE_HOURGLASS
        if c.INPUT_RES != STRIDE * c.OUTPUT_RES:
            raise ValueError(
                f"MODEL.POSE_HOURGLASS: INPUT_RES ({c.INPUT_RES}) must be {STRIDE} x OUTPUT_RES "
                f"({c.OUTPUT_RES}): the network has stride {STRIDE}"
            )
        return {
            "in_channels": input_shape.channels,
            "nstack": c.NSTACK,
            "inp_dim": c.INP_DIM,
            "oup_dim": c.OUP_DIM,
            "increase": c.INCREASE,
        }

    @property
    def size_divisibility(self):
        return STRIDE * 2**HOURGLASS_DEPTH

    @property
    def feature_channels(self):
        """Channels of the last stack's features (``forward_features``)."""
        return self.outs[-1].conv.in_channels

    def forward_features(self, x):
        """``(forward(x), the last stack's features (N, INP_DIM, H/4, W/4))``."""
        # channels-last, as the official NHWC input permuted to NCHW is: oneDNN's convolutions
        # and pooling are faster in that layout on CPU (≈ 25 % for the whole network here)
        x = self.pre(x.contiguous(memory_format=torch.channels_last))
        out = {}
        last = len(self.hgs) - 1
        for i, (hg, feat, head) in enumerate(zip(self.hgs, self.features, self.outs)):
            feature = feat(hg(x))
            out[f"hm{i}"] = head(feature)
            if i < last:
                x = x + self.merge_preds[i](out[f"hm{i}"]) + self.merge_features[i](feature)
        return out, feature

    def forward(self, x):
        return self.forward_features(x)[0]

    def output_shape(self):
        return {
            f: ShapeSpec(channels=self._out_feature_channels[f], stride=STRIDE)
            for f in self._out_features
        }


@BACKBONE_REGISTRY.register()
def build_pose_hourglass_backbone(cfg, input_shape):
    """``MODEL.BACKBONE.NAME="build_pose_hourglass_backbone"``, keys in ``MODEL.POSE_HOURGLASS``."""
    return PoseHourglassBackbone(cfg, input_shape)
