"""CenterNet-OAP ResNet backbones: ``build_centernet_resnet_backbone`` = a torchvision-layout
ResNet (res5, ``vision_plugins.layers.build_resnet``) + three up-sampling stages to stride 4,
``deconv_layers`` with the official indices: ``res_18`` = 3 x [ConvTranspose 4x4 s2 (no bias) -
BN - ReLU] at 256 channels; ``resdcn_*`` = 3 x [modulated DCN 3x3 - BN - ReLU - ConvTranspose -
BN - ReLU] at 256 / 128 / 64 channels (DCNv2 parameter names, torchvision's op)."""

import math

import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from torch import nn

from ..layers import FoldedConvBN, ModulatedDeformConv2d
from ..layers.resnet import build_resnet

__all__ = ["CenterNetResNet", "build_centernet_resnet_backbone"]


def _bilinear_init(deconv):
    """The official bilinear up-sampling initialisation of a ConvTranspose weight."""
    w = deconv.weight.data
    f = math.ceil(w.size(2) / 2)
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    for i in range(w.size(2)):
        for j in range(w.size(3)):
            w[0, 0, i, j] = (1 - math.fabs(i / f - c)) * (1 - math.fabs(j / f - c))
    for ch in range(1, w.size(0)):
        w[ch, 0, :, :] = w[0, 0, :, :]


class CenterNetResNet(Backbone):
    def __init__(self, bottom_up, channels, dcn):
        super().__init__()
        self.bottom_up = bottom_up
        cin = bottom_up.output_shape()["res5"].channels
        layers = []
        for cout in channels:
            if dcn:
                layers += [ModulatedDeformConv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout),
                           nn.ReLU(inplace=True)]  # fmt: skip
                cin = cout
            up = nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=False)
            if dcn:
                _bilinear_init(up)
            layers += [up, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        self.deconv_layers = nn.Sequential(*layers)
        self._folds = {i: FoldedConvBN() for i, m in enumerate(layers)
                       if isinstance(m, nn.ConvTranspose2d)}  # fmt: skip
        self._out_features = ["p2"]
        self._out_feature_channels = {"p2": cin}
        self._out_feature_strides = {"p2": 4}

    @property
    def size_divisibility(self):
        return 32

    def forward(self, x):
        x = self.bottom_up(x)["res5"]
        if self.training or torch.is_grad_enabled():
            return {"p2": self.deconv_layers(x)}
        # inference: each ConvTranspose + BatchNorm pair as one folded transposed conv
        layers, i = list(self.deconv_layers), 0
        while i < len(layers):
            if isinstance(layers[i], nn.ConvTranspose2d):
                x, i = self._folds[i](layers[i], layers[i + 1], x), i + 2
            else:
                x, i = layers[i](x), i + 1
        return {"p2": x}


@BACKBONE_REGISTRY.register()
def build_centernet_resnet_backbone(cfg, input_shape: ShapeSpec):
    c = cfg.MODEL.CENTERNET_OAP
    bottom_up = build_resnet(cfg, input_shape, ["res5"])
    return CenterNetResNet(bottom_up, list(c.DECONV_CHANNELS), c.DECONV_DCN)
