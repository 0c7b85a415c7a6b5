"""YOLACT backbone: detectron2 ResNet (+ interval DCNv2 for YOLACT++) and YOLACT's own FPN.

``build_yolact_resnet_fpn_backbone`` (BACKBONE_REGISTRY) returns a ``YolactFPN`` whose
``bottom_up`` is a detectron2 ``ResNet`` with the torchvision layout YOLACT uses (stride on the
3x3 conv: ``MODEL.RESNETS.STRIDE_IN_1X1=False``), so ImageNet torchvision weights load through
the ``torchvision_resnet`` converter. The FPN follows the official semantics, which differ from
detectron2's ``FPN`` + ``LastLevelP6P7``:

- top-down: the coarser sum is resized bilinearly (align_corners=False) to the exact size of the
  next lateral, then added;
- 3x3 output convs, then ReLU on P3-P5;
- P6 = stride-2 3x3 conv of the ReLU'd P5 and P7 = stride-2 3x3 conv of P6, with no ReLU.
"""

import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from detectron2.modeling.backbone.resnet import (
    BasicBlock,
    BasicStem,
    BottleneckBlock,
    CNNBlockBase,
    ResNet,
)
from torch import nn

from ..layers import ModulatedDeformConv2d

__all__ = [
    "DeformBottleneckBlock",
    "YolactFPN",
    "build_yolact_resnet",
    "build_yolact_resnet_fpn_backbone",
    "dcn_blocks",
]

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


def build_yolact_resnet(cfg, input_shape):
    """detectron2 ``ResNet`` (res3-res5 outputs) from MODEL.RESNETS (DEPTH, NORM, STRIDE_IN_1X1,
    RES2_OUT_CHANNELS), MODEL.BACKBONE.FREEZE_AT and MODEL.YOLACT.DCN_STAGES / DCN_INTERVAL."""
    r, c = cfg.MODEL.RESNETS, cfg.MODEL.YOLACT
    if r.DEPTH not in _BLOCKS:
        raise ValueError(f"MODEL.RESNETS.DEPTH={r.DEPTH}; YOLACT supports {sorted(_BLOCKS)}")
    if len(c.DCN_STAGES) != 4:
        raise ValueError(f"MODEL.YOLACT.DCN_STAGES needs 4 entries (res2-res5), got {c.DCN_STAGES}")
    basic = r.DEPTH in (18, 34)
    if basic and any(c.DCN_STAGES):
        raise ValueError("MODEL.YOLACT.DCN_STAGES: deformable blocks need DEPTH >= 50")
    norm = r.NORM
    stem = BasicStem(in_channels=input_shape.channels, out_channels=r.STEM_OUT_CHANNELS, norm=norm)
    num_blocks = _BLOCKS[r.DEPTH]
    deform = dcn_blocks(num_blocks, c.DCN_STAGES, c.DCN_INTERVAL)
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
        stem, stages, out_features=["res3", "res4", "res5"], freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT
    )


class YolactFPN(Backbone):
    """``bottom_up`` res3-res5 -> ``{"p3", ..., "p7"}`` with YOLACT's FPN semantics (module
    docstring). Parameter names follow the official ``FPN``: ``lat_layers.i`` / ``pred_layers.i``
    act on the (2 - i)-th input (res5 first), ``downsample_layers.{0,1}`` make P6 and P7."""

    @configurable
    def __init__(self, *, bottom_up, channels=256, num_downsample=2):
        super().__init__()
        self.bottom_up = bottom_up
        self.in_features = ["res3", "res4", "res5"]
        shapes = bottom_up.output_shape()
        in_channels = [shapes[f].channels for f in self.in_features]
        self.lat_layers = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in reversed(in_channels))
        self.pred_layers = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=1) for _ in in_channels
        )
        self.downsample_layers = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=1, stride=2) for _ in range(num_downsample)
        )
        names = [f"p{i}" for i in range(3, 6 + num_downsample)]
        self._out_features = names
        self._out_feature_channels = {n: channels for n in names}
        self._out_feature_strides = {n: 2 ** int(n[1:]) for n in names}

    @classmethod
    def from_config(cls, cfg, input_shape):
        return {
            "bottom_up": build_yolact_resnet(cfg, input_shape),
            "channels": cfg.MODEL.YOLACT.FPN_CHANNELS,
        }

    def forward(self, x):
        feats = self.bottom_up(x)
        convouts = [feats[f] for f in self.in_features]
        n = len(convouts)
        outs = [None] * n
        top = None
        for i, lat in enumerate(self.lat_layers):
            j = n - 1 - i
            if top is not None:
                h, w = convouts[j].shape[-2:]
                top = F.interpolate(top, size=(h, w), mode="bilinear", align_corners=False)
                top = top + lat(convouts[j])
            else:
                top = lat(convouts[j])
            outs[j] = top
        for i, pred in enumerate(self.pred_layers):
            j = n - 1 - i
            outs[j] = F.relu_(pred(outs[j]))
        for down in self.downsample_layers:
            outs.append(down(outs[-1]))
        return dict(zip(self._out_features, outs))


@BACKBONE_REGISTRY.register()
def build_yolact_resnet_fpn_backbone(cfg, input_shape: ShapeSpec):
    return YolactFPN(cfg, input_shape)
