"""YolactEdge's feature-transfer modules: ``FeatFlowNet``, ``warp_features``, ``SPA``.

As in haotian-liu/yolact_edge @873fceb (``yolact_edge_vid_config``): the flow network sees the
C3 laterals of the current frame and of the keyframe, each reduced by ``pre_convs`` (3x3 conv +
LeakyReLU(0.1), 256 -> 64), concatenated (current first); it predicts at 1/2 and 1/4 of C3's
resolution (the P4 and P5 grids) a flow plus a per-channel, per-position scale and bias that
``warp_features`` applies to the keyframe's P4 / P5 sums; ``SPA`` then refines the warped levels
with the current lateral.
"""

from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "FeatFlowNet",
    "FlowPrediction",
    "SPA",
    "conv_lrelu",
    "flow_grid",
    "pixel_flow_to_units",
    "resize",
    "warp_features",
]


def conv_lrelu(in_channels, out_channels, stride=1):
    """3x3 conv (padding 1, bias) + LeakyReLU(0.1)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
        nn.LeakyReLU(0.1, inplace=True),
    )


def resize(x, size):
    """Bilinear resize, align_corners=False (every resize of YolactEdge's feature transfer)."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class FlowPrediction(nn.Module):
    """One scale of FeatFlowNet: a 3x3 conv to the flow (2 channels, no bias) and 1x1 convs to
    the feature scale (bias initialised to 1) and bias (``channels`` each)."""

    def __init__(self, in_channels, channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 2, 3, padding=1, bias=False)
        self.scale = nn.Conv2d(in_channels, channels, 1)
        self.bias = nn.Conv2d(in_channels, channels, 1)
        for m in (self.conv, self.scale, self.bias):
            nn.init.kaiming_normal_(m.weight, mode="fan_in")
        nn.init.ones_(self.scale.bias)
        nn.init.zeros_(self.bias.bias)

    def forward(self, x):
        return self.conv(x), self.scale(x), self.bias(x)


class FeatFlowNet(nn.Module):
    """The official ``FlowNetMini`` with encode layers [[1], [2], [4]]: encoder ``conv1`` (stride
    1, ``encode`` channels), ``conv2`` (stride 2, 2x), ``conv3`` (stride 2, 4x), each two
    ``conv_lrelu``; coarse-to-fine predictions ``pred3`` (on conv3), ``pred2`` (on conv2 + the
    upsampled conv3 features and flow through ``upfeat3`` / ``upflow3``) and ``pred1`` (on conv1
    + ``upfeat2`` / ``upflow2`` of the pred2 input and flow; used by the flow-training loss only,
    inference warps P4 / P5 with pred2 / pred3). Parameter names follow the official module.

    ``forward(target, source)``: target = current frame, source = keyframe (reduced laterals,
    N x in_channels/2 x H x W each). Returns ``[(flow, scale, bias)]`` for pred2 and pred3
    (``finest=True``: pred1 first). A flow is in the units ``warp_features`` expects."""

    def __init__(self, in_channels=128, encode=64, channels=256):
        super().__init__()
        self.conv1 = nn.Sequential(conv_lrelu(in_channels, encode), conv_lrelu(encode, encode))
        self.conv2 = nn.Sequential(
            conv_lrelu(encode, 2 * encode, stride=2), conv_lrelu(2 * encode, 2 * encode)
        )
        self.conv3 = nn.Sequential(
            conv_lrelu(2 * encode, 4 * encode, stride=2), conv_lrelu(4 * encode, 4 * encode)
        )
        for m in (*self.conv1.modules(), *self.conv2.modules(), *self.conv3.modules()):
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, 0.1, mode="fan_in")
                nn.init.zeros_(m.bias)
        self.pred3 = FlowPrediction(4 * encode, channels)
        self.pred2 = FlowPrediction(4 * encode + 2, channels)
        self.pred1 = FlowPrediction(2 * encode + 2, channels)
        self.upfeat3 = nn.Conv2d(4 * encode, 2 * encode, 3, padding=1, bias=False)
        self.upflow3 = nn.Conv2d(2, 2, 3, padding=1, bias=False)
        self.upfeat2 = nn.Conv2d(4 * encode + 2, encode, 3, padding=1, bias=False)
        self.upflow2 = nn.Conv2d(2, 2, 3, padding=1, bias=False)

    def forward(
        self, target: torch.Tensor, source: torch.Tensor, finest: bool = False
    ) -> List[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        out1 = self.conv1(torch.cat((target, source), dim=1))
        out2 = self.conv2(out1)
        out3 = self.conv3(out2)
        size2 = out2.shape[-2:]
        flow3, scale3, bias3 = self.pred3(out3)
        up3 = self.upfeat3(resize(out3, size2))
        cat2 = torch.cat((out2, up3, self.upflow3(resize(flow3, size2))), dim=1)
        preds = [self.pred2(cat2), (flow3, scale3, bias3)]
        if finest:
            size1 = out1.shape[-2:]
            flow2 = preds[0][0]
            up2 = self.upfeat2(resize(cat2, size1))
            cat1 = torch.cat((out1, up2, self.upflow2(resize(flow2, size1))), dim=1)
            preds.insert(0, self.pred1(cat1))
        return preds


def flow_grid(n: int, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """Identity sampling grid in ``grid_sample``'s align_corners=True coordinates, (N, 2, H, W)
    (x then y), computed as the official ``deform_op`` does: pixel index x 2/(size-1), minus 1."""
    if h < 2 or w < 2:
        raise ValueError(
            f"cannot warp a {h}x{w} feature map: P4/P5 need at least 2x2 (input too small)"
        )
    xs = torch.arange(w, dtype=like.dtype, device=like.device).view(1, -1).expand(h, -1)
    ys = torch.arange(h, dtype=like.dtype, device=like.device).view(-1, 1).expand(-1, w)
    grid = torch.stack([xs, ys], dim=0).float().unsqueeze(0).expand(n, -1, -1, -1)
    norm = torch.tensor([2 / (w - 1), 2 / (h - 1)], dtype=torch.float, device=like.device)
    return grid * norm.view(1, 2, 1, 1) - 1


def warp_features(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``x`` (N, C, H, W) at the identity grid + ``flow`` / 8: ``flow`` (N, 2, H, W) is in
    units of 1/8 of the normalised [-1, 1] coordinates (so 16 / (W - 1) px in x per unit),
    bilinear, zeros outside, align_corners=True (the official ``deform_op``). Zero flow is the
    identity."""
    if x.shape[-2:] != flow.shape[-2:] or flow.shape[1] != 2:
        raise ValueError(
            f"flow {tuple(flow.shape)} does not match features {tuple(x.shape)}: need N x 2 x H x W"
        )
    n, _, h, w = flow.shape
    grid = (flow_grid(n, h, w, x) + flow / 8).permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def pixel_flow_to_units(flow: torch.Tensor) -> torch.Tensor:
    """(N, 2, H, W) flow in pixels of an H x W image -> ``warp_features`` units at any
    resolution: u x 16 / W, v x 16 / H (the official FlyingChairs target, 2 / size x 8)."""
    h, w = flow.shape[-2:]
    return flow * torch.tensor([16 / w, 16 / h], dtype=flow.dtype, device=flow.device).view(
        1, 2, 1, 1
    )


class SPA(nn.Module):
    """Shallow pixel aggregation: each warped level x (P4 then P5) gets x + conv_lrelu(cat(x,
    lateral)), 2C -> C, where the current C3 lateral is resized bilinearly to P4's size, and that
    resized lateral again to P5's size (the official chain)."""

    def __init__(self, channels=256, num_levels=2):
        super().__init__()
        self.refine_convs = nn.ModuleList(
            conv_lrelu(2 * channels, channels) for _ in range(num_levels)
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, 0.1, mode="fan_in")
                nn.init.zeros_(m.bias)

    def forward(self, lateral: torch.Tensor, levels: List[torch.Tensor]) -> List[torch.Tensor]:
        out = []
        for refine, x in zip(self.refine_convs, levels):
            lateral = resize(lateral, x.shape[-2:])
            out.append(x + refine(torch.cat((x, lateral), dim=1)))
        return out
