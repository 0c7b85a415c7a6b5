"""torchvision-layout ResNets from detectron2 blocks, with optional interval DCNv2 blocks.

``build_resnet(cfg, input_shape, out_features, dcn_stages, dcn_interval)`` builds a detectron2
``ResNet`` from MODEL.RESNETS (DEPTH 18-152, NORM, STRIDE_IN_1X1, RES2_OUT_CHANNELS, ...) and
MODEL.BACKBONE.FREEZE_AT, where selected bottleneck blocks use a modulated deformable 3x3 conv
(``DeformBottleneckBlock``, torchvision's op: CPU and GPU, with autograd). Used by the
architectures whose reference code uses torchvision ResNets (YOLACT, RetinaFace, ...).
"""

import torch.nn.functional as F
from detectron2.layers import Conv2d, get_norm
from detectron2.modeling.backbone.resnet import (
    BasicBlock,
    BasicStem,
    BottleneckBlock,
    CNNBlockBase,
    ResNet,
)
from torch import nn

from .deform_conv import ModulatedDeformConv2d

__all__ = ["DeformBottleneckBlock", "build_resnet", "dcn_blocks"]

_BLOCKS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3],
           152: [3, 8, 36, 3]}  # fmt: skip


class DeformBottleneckBlock(CNNBlockBase):
    """detectron2's ``BottleneckBlock`` (stride on the 3x3) with a modulated deformable 3x3 conv
    (DCNv2 on torchvision's op, so CPU training works); parameter names as ``BottleneckBlock``
    plus ``conv2.conv_offset_mask`` and ``conv2.bias``: the official DCN is biased, and its bias
    is kept rather than folded into the BN that follows -- the fold is exact in real arithmetic
    but changes float rounding, which deep stacks of deformable blocks amplify (measured on the
    YOLACT++ R-50 parity fixture: per-block differences of 1e-5 grow to 68 at res4, through
    the offsets)."""

    def __init__(self, in_channels, out_channels, *, bottleneck_channels, stride=1, norm="BN"):
        super().__init__(in_channels, out_channels, stride)
        self.shortcut = (
            Conv2d(in_channels, out_channels, 1, stride=stride, bias=False,
                   norm=get_norm(norm, out_channels))
            if in_channels != out_channels
            else None
        )  # fmt: skip
        self.conv1 = Conv2d(in_channels, bottleneck_channels, 1, bias=False,
                            norm=get_norm(norm, bottleneck_channels))  # fmt: skip
        self.conv2 = ModulatedDeformConv2d(
            bottleneck_channels, bottleneck_channels, 3, stride=stride, padding=1, bias=True,
            norm=get_norm(norm, bottleneck_channels),
        )  # fmt: skip
        self.conv3 = Conv2d(bottleneck_channels, out_channels, 1, bias=False,
                            norm=get_norm(norm, out_channels))  # fmt: skip
        for layer in (self.conv1, self.conv3, self.shortcut):
            if layer is not None:
                nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        out = F.relu_(self.conv1(x))
        out = F.relu_(self.conv2(out))
        out = self.conv3(out)
        out += x if self.shortcut is None else self.shortcut(x)
        return F.relu_(out)


def dcn_blocks(num_blocks, dcn_stages, interval):
    """Per stage, which blocks use a deformable conv (official ``ResNetBackbone`` rule): the
    last ``dcn_stages[s]`` blocks of stage s, every ``interval``-th block counted from the first
    (the first block itself only when the whole stage is deformable)."""
    out = []
    for n, d in zip(num_blocks, dcn_stages):
        out.append([(d >= n) if i == 0 else (i + d >= n and i % interval == 0) for i in range(n)])
    return out


def build_resnet(cfg, input_shape, out_features, dcn_stages=(0, 0, 0, 0), dcn_interval=1):
    """detectron2 ``ResNet`` with ``out_features`` from MODEL.RESNETS (DEPTH, NORM,
    STRIDE_IN_1X1, RES2_OUT_CHANNELS, STEM_OUT_CHANNELS, NUM_GROUPS, WIDTH_PER_GROUP) and
    MODEL.BACKBONE.FREEZE_AT; ``dcn_stages`` / ``dcn_interval`` select deformable blocks
    (``dcn_blocks``)."""
    r = cfg.MODEL.RESNETS
    if r.DEPTH not in _BLOCKS:
        raise ValueError(f"MODEL.RESNETS.DEPTH={r.DEPTH}; supported: {sorted(_BLOCKS)}")
    if len(dcn_stages) != 4:
        raise ValueError(f"deformable stages need 4 entries (res2-res5), got {dcn_stages}")
    basic = r.DEPTH in (18, 34)
    if basic and any(dcn_stages):
        raise ValueError("deformable blocks need MODEL.RESNETS.DEPTH >= 50")
    norm = r.NORM
    stem = BasicStem(in_channels=input_shape.channels, out_channels=r.STEM_OUT_CHANNELS, norm=norm)
    num_blocks = _BLOCKS[r.DEPTH]
    deform = dcn_blocks(num_blocks, dcn_stages, dcn_interval)
    in_channels = r.STEM_OUT_CHANNELS
    out_channels = 64 if basic else r.RES2_OUT_CHANNELS
    bottleneck = r.NUM_GROUPS * r.WIDTH_PER_GROUP
    stages = []
    for s, n in enumerate(num_blocks):
        blocks = []
        for i in range(n):
            stride = 2 if i == 0 and s > 0 else 1
            if basic:
                block = BasicBlock(in_channels, out_channels, stride=stride, norm=norm)
            elif deform[s][i]:
                block = DeformBottleneckBlock(
                    in_channels, out_channels, bottleneck_channels=bottleneck, stride=stride,
                    norm=norm,
                )  # fmt: skip
            else:
                block = BottleneckBlock(
                    in_channels, out_channels, bottleneck_channels=bottleneck, stride=stride,
                    norm=norm, stride_in_1x1=r.STRIDE_IN_1X1,
                )  # fmt: skip
            blocks.append(block)
            in_channels = out_channels
        stages.append(blocks)
        out_channels *= 2
        bottleneck *= 2
    return ResNet(
        stem, stages, out_features=list(out_features), freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT
    )
