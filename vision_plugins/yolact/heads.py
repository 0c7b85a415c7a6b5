"""YOLACT heads: ProtoNet, the shared prediction head and YOLACT++'s FastMaskIoUNet.

Module indices follow the official ``make_net`` layouts (conv, ReLU, ... in one
``nn.Sequential``), so official state-dict keys map one to one.
"""

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ProtoNet", "YolactHead", "FastMaskIoUNet"]


class ProtoNet(nn.Sequential):
    """P3 -> k prototypes at twice P3's resolution, (N, k, 2H, 2W), ReLU'd: 3 x [3x3 conv +
    ReLU], bilinear x2 (+ ReLU, a no-op kept for the layout), 3x3 conv + ReLU, 1x1 conv to k."""

    def __init__(self, in_channels=256, channels=256, num_prototypes=32):
        super().__init__(
            nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, num_prototypes, 1),
        )  # fmt: skip

    def forward(self, x):
        return F.relu(super().forward(x))


class YolactHead(nn.Module):
    """One head shared by every FPN level: ``upfeature`` (3x3 conv + ReLU), then parallel 3x3
    convs to A·4 box deltas, A·(C+1) class logits (index 0 = background) and A·k mask
    coefficients (tanh). Outputs per level are flattened position-major, anchor-minor, as the
    anchors of ``YolactAnchorGenerator``."""

    def __init__(self, in_channels, num_anchors, num_classes, num_prototypes):
        super().__init__()
        self.num_classes, self.num_prototypes = num_classes, num_prototypes
        self.upfeature = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 3, padding=1), nn.ReLU(inplace=True)
        )
        self.bbox_layer = nn.Conv2d(in_channels, num_anchors * 4, 3, padding=1)
        self.conf_layer = nn.Conv2d(in_channels, num_anchors * (num_classes + 1), 3, padding=1)
        self.mask_layer = nn.Conv2d(in_channels, num_anchors * num_prototypes, 3, padding=1)

    def forward(self, features):
        """list of (N, C, H_l, W_l) -> (loc (N, P, 4), conf logits (N, P, C+1), coefs (N, P, k))."""
        locs, confs, coefs = [], [], []
        for x in features:
            x = self.upfeature(x)
            n = x.shape[0]
            locs.append(self.bbox_layer(x).permute(0, 2, 3, 1).reshape(n, -1, 4))
            confs.append(
                self.conf_layer(x).permute(0, 2, 3, 1).reshape(n, -1, self.num_classes + 1)
            )
            coefs.append(self.mask_layer(x).permute(0, 2, 3, 1).reshape(n, -1, self.num_prototypes))
        return torch.cat(locs, 1), torch.cat(confs, 1), torch.tanh(torch.cat(coefs, 1))


class FastMaskIoUNet(nn.Sequential):
    """YOLACT++ mask scoring: (N, 1, H, W) masks -> (N, C) predicted mask IoU per class: five
    unpadded stride-2 3x3 convs (1 -> 8 -> 16 -> 32 -> 64 -> 128), a 1x1 conv to C, each
    followed by ReLU, then a global max pool."""

    def __init__(self, num_classes, widths=(8, 16, 32, 64, 128)):
        layers, c = [], 1
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, stride=2), nn.ReLU(inplace=True)]
            c = w
        layers += [nn.Conv2d(c, num_classes, 1), nn.ReLU(inplace=True)]
        super().__init__(*layers)

    def forward(self, x):
        if min(x.shape[-2:]) < 63:  # five unpadded stride-2 3x3 convs need 63 px
            raise ValueError(
                f"FastMaskIoUNet needs masks of at least 63x63 prototype pixels, got "
                f"{tuple(x.shape[-2:])}: use an input of at least ~256 px (MODEL.YOLACT.MAX_SIZE) "
                f"or MODEL.YOLACT.MASKIOU.ENABLED=False"
            )
        return super().forward(x).amax(dim=(2, 3))
