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
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from torch import nn

from ..layers.resnet import build_resnet

__all__ = ["YolactFPN", "build_yolact_resnet", "build_yolact_resnet_fpn_backbone"]


def build_yolact_resnet(cfg, input_shape):
    """res3-res5 of a torchvision-layout detectron2 ResNet with MODEL.YOLACT.DCN_STAGES /
    DCN_INTERVAL deformable blocks (``vision_plugins.layers.build_resnet``)."""
    c = cfg.MODEL.YOLACT
    return build_resnet(cfg, input_shape, ["res3", "res4", "res5"], c.DCN_STAGES, c.DCN_INTERVAL)


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

    def phase1(self, convouts):
        """Laterals and top-down sums (YolactEdge's ``fpn_phase_1``): C3-C5 -> (sums [S3, S4,
        S5], laterals [L3, L4, L5])."""
        n = len(convouts)
        sums, laterals = [None] * n, [None] * n
        top = None
        for i, lat in enumerate(self.lat_layers):
            j = n - 1 - i
            laterals[j] = lat(convouts[j])
            if top is not None:
                h, w = convouts[j].shape[-2:]
                top = F.interpolate(top, size=(h, w), mode="bilinear", align_corners=False)
                top = top + laterals[j]
            else:
                top = laterals[j]
            sums[j] = top
        return sums, laterals

    def phase2(self, sums):
        """3x3 output convs + ReLU and the P6/P7 convs (YolactEdge's ``fpn_phase_2``): [S3, S4,
        S5] -> [P3, ..., P7]; the inputs are not modified."""
        n = len(sums)
        outs = list(sums)
        for i, pred in enumerate(self.pred_layers):
            j = n - 1 - i
            outs[j] = F.relu_(pred(sums[j]))
        for down in self.downsample_layers:
            outs.append(down(outs[-1]))
        return outs

    def forward(self, x):
        feats = self.bottom_up(x)
        sums, _ = self.phase1([feats[f] for f in self.in_features])
        return dict(zip(self._out_features, self.phase2(sums)))


@BACKBONE_REGISTRY.register()
def build_yolact_resnet_fpn_backbone(cfg, input_shape: ShapeSpec):
    return YolactFPN(cfg, input_shape)
