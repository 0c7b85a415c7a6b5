"""Hourglass-104 (CornerNet's backbone, shared by CenterNet-Triplet and CenterNet "objects as
points") as a detectron2 ``Backbone``, written from the description of princeton-vl/CornerNet
``models/py_utils/kp.py``; attribute names follow its checkpoint layout (``pre``, ``kps``,
``cnvs``, ``inters``, ``inters_``, ``cnvs_``), so converters are prefix renames.

- ``pre``: 7x7/2 conv-BN-ReLU (``STEM_DIM``) then a stride-2 residual to ``DIMS[0]``: stride 4.
- ``kps.{s}``: a recursive hourglass of ``DEPTH`` levels. Level i: ``up1`` = MODULES[i]
  residuals at DIMS[i]; ``low1`` = a stride-2 residual DIMS[i] -> DIMS[i+1] then MODULES[i] - 1
  residuals (no max-pool: the official ``max1`` is an identity); ``low2`` = the next level, or
  MODULES[DEPTH] residuals at the bottom; ``low3`` = MODULES[i] - 1 residuals then one back to
  DIMS[i]; output ``up1(x) + nearest_upsample_2x(low3(low2(low1(x))))``.
- ``cnvs.{s}``: 3x3 conv-BN-ReLU to ``CNV_DIM``: the stack's output feature ``hg{s}``.
- Between stacks: ``inter = inters[s](relu(inters_[s](inter) + cnvs_[s](cnv)))``, the next
  stack's input (``inters_`` / ``cnvs_`` are 1x1 conv + BN).

``residual`` is a basic block (3x3 conv-BN-ReLU, 3x3 conv-BN, plus a 1x1 conv-BN shortcut when
the stride or width changes, then ReLU); every conv is bias-free. Official HG-104: 2 stacks,
DEPTH 5, DIMS [256, 256, 384, 384, 384, 512], MODULES [2, 2, 2, 2, 2, 4], CNV_DIM 256.
"""

import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from torch import nn

from ..layers.conv_bn import FoldedConvBN
from ..layers.corner_pool import ConvBNReLU, conv_bn

__all__ = ["Hourglass104", "Residual", "build_hourglass104_backbone"]


class Residual(nn.Module):
    """Basic residual block (official ``residual``)."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.skip = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.skip = nn.Sequential()
        self._folds = [FoldedConvBN() for _ in range(3)]

    def forward(self, x):
        out = F.relu(conv_bn(self.conv1, self.bn1, self._folds[0], x), inplace=True)
        out = conv_bn(self.conv2, self.bn2, self._folds[1], out)
        skip = conv_bn(self.skip[0], self.skip[1], self._folds[2], x) if len(self.skip) else x
        return F.relu(out + skip, inplace=True)


def _residuals(in_channels, out_channels, n, stride=1):
    return [Residual(in_channels, out_channels, stride)] + [
        Residual(out_channels, out_channels) for _ in range(n - 1)
    ]


class HourglassModule(nn.Module):
    """One level of the recursive hourglass (official ``kp_module``)."""

    def __init__(self, depth, dims, modules):
        super().__init__()
        cur, nxt = dims[0], dims[1]
        self.up1 = nn.Sequential(*_residuals(cur, cur, modules[0]))
        self.low1 = nn.Sequential(*_residuals(cur, nxt, modules[0], stride=2))
        if depth > 1:
            self.low2 = HourglassModule(depth - 1, dims[1:], modules[1:])
        else:
            self.low2 = nn.Sequential(*_residuals(nxt, nxt, modules[1]))
        low3 = [Residual(nxt, nxt) for _ in range(modules[0] - 1)] + [Residual(nxt, cur)]
        self.low3 = nn.Sequential(*low3)

    def forward(self, x):
        low = self.low3(self.low2(self.low1(x)))
        return self.up1(x) + F.interpolate(low, scale_factor=2, mode="nearest")


class Hourglass104(Backbone):
    """Stacked hourglass: (N, 3, H, W) normalised images -> ``{"hg0": ..., "hg{S-1}": ...}``,
    every stack's ``CNV_DIM`` feature at stride 4 (the last one is what inference uses; all of
    them are supervised in training). H and W must be divisible by 2^(DEPTH + 2) (or be one less
    than such a size, as the official 511 inputs are)."""

    @configurable
    def __init__(self, *, num_stacks=2, depth=5, dims=(256, 256, 384, 384, 384, 512),
                 modules=(2, 2, 2, 2, 2, 4), cnv_dim=256, stem_dim=128, in_channels=3):  # fmt: skip
        super().__init__()
        if len(dims) != depth + 1 or len(modules) != depth + 1:
            raise ValueError(f"MODEL.HOURGLASS: DIMS ({len(dims)}) and MODULES ({len(modules)}) "
                             f"need DEPTH + 1 = {depth + 1} entries")  # fmt: skip
        d0 = dims[0]
        self.pre = nn.Sequential(ConvBNReLU(7, in_channels, stem_dim, stride=2),
                                 Residual(stem_dim, d0, stride=2))  # fmt: skip
        self.kps = nn.ModuleList([HourglassModule(depth, dims, modules) for _ in range(num_stacks)])
        self.cnvs = nn.ModuleList([ConvBNReLU(3, d0, cnv_dim) for _ in range(num_stacks)])
        self.inters = nn.ModuleList([Residual(d0, d0) for _ in range(num_stacks - 1)])
        self.inters_ = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(d0, d0, 1, bias=False), nn.BatchNorm2d(d0))
             for _ in range(num_stacks - 1)]  # fmt: skip
        )
        self.cnvs_ = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(cnv_dim, d0, 1, bias=False), nn.BatchNorm2d(d0))
             for _ in range(num_stacks - 1)]  # fmt: skip
        )
        self.hourglass_dim = d0
        self._divisibility = 2 ** (depth + 2)
        self._out_features = [f"hg{s}" for s in range(num_stacks)]
        self._out_feature_channels = {f: cnv_dim for f in self._out_features}
        self._out_feature_strides = {f: 4 for f in self._out_features}

    @classmethod
    def from_config(cls, cfg, input_shape):
        h = cfg.MODEL.HOURGLASS
        return {
            "num_stacks": h.NUM_STACKS,
            "depth": h.DEPTH,
            "dims": tuple(h.DIMS),
            "modules": tuple(h.MODULES),
            "cnv_dim": h.CNV_DIM,
            "stem_dim": h.STEM_DIM,
            "in_channels": input_shape.channels,
        }

    @property
    def size_divisibility(self):
        return self._divisibility

    def forward(self, x):
        inter = self.pre(x)
        outs = {}
        last = len(self.kps) - 1
        for s, (kp, cnv) in enumerate(zip(self.kps, self.cnvs)):
            outs[f"hg{s}"] = feat = cnv(kp(inter))
            if s < last:
                inter = self.inters_[s](inter) + self.cnvs_[s](feat)
                inter = self.inters[s](F.relu(inter, inplace=True))
        return outs


@BACKBONE_REGISTRY.register()
def build_hourglass104_backbone(cfg, input_shape: ShapeSpec):
    """The CornerNet hourglass from ``MODEL.HOURGLASS`` (defaults: HG-104)."""
    return Hourglass104(cfg, input_shape)
