"""VPSNet's fuse module: flow-aligned fusion of a reference frame's FPN features into the target's.

1. **Gather** (Libra R-CNN BFP): every FPN level resized to the refine level (coarser levels by
   nearest upsampling, finer ones by adaptive max pooling) and averaged, for both frames.
2. **Warp** the reference gather with the flow (target -> reference, resized to the gather and
   its values scaled by the same factor), bilinear, zero outside.
3. **Flow residual**: a small net on the local correlation of the target and the warped
   reference (displacements up to ``corr_range``, mean over channels), the target feature and
   the flow predicts a residual flow; the warped reference is warped again with it.
4. **TCEA** (EDVR's temporal and spatial attention fusion) of [target, warped reference].
5. **Refine** (3×3 conv) and **scatter**: the fused map, resized to each level, is added to the
   target's level (residual).

Deviation from the official code (documented in projects/VPSNet/README.md): the official warp
builds its sampling grid with ``linspace(-1, 1)`` (pixel centres at the borders, i.e.
``align_corners=True``) but samples with ``align_corners=False``, shifting every warp by up to
half a pixel; :func:`warp` samples exactly at ``p + flow(p)``.
"""

from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["warp", "correlation", "gather_levels", "scatter_levels", "TCEAFusion", "FuseModule"]


def warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``out[:, :, y, x] = x`` sampled bilinearly at ``(x + u, y + v)`` (pixel units, zeros
    outside the map) for ``flow`` B×2×H×W = (u, v)."""
    b, _, h, w = x.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=x.dtype, device=x.device),
        torch.arange(w, dtype=x.dtype, device=x.device),
        indexing="ij",
    )
    gx = (xs + flow[:, 0]) * (2 / max(w - 1, 1)) - 1
    gy = (ys + flow[:, 1]) * (2 / max(h - 1, 1)) - 1
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def correlation(a: torch.Tensor, b: torch.Tensor, max_displacement: int) -> torch.Tensor:
    """Channel-mean correlation ``out[:, k, y, x] = mean_c a[:, c, y, x] * b[:, c, y+dy, x+dx]``
    (zero outside) for every ``(dy, dx)`` in ``[-d, d]²``, ``k = (dy + d)(2d + 1) + dx + d``."""
    d = max_displacement
    h, w = a.shape[-2:]
    padded = F.pad(b, (d, d, d, d))
    return torch.stack(
        [
            (a * padded[:, :, dy : dy + h, dx : dx + w]).mean(dim=1)
            for dy in range(2 * d + 1)
            for dx in range(2 * d + 1)
        ],
        dim=1,
    )


def _resize(x: torch.Tensor, size) -> torch.Tensor:
    """Nearest upsampling to a larger ``size``, adaptive max pooling to a smaller one."""
    if x.shape[-2] >= size[0] and x.shape[-1] >= size[1]:
        return F.adaptive_max_pool2d(x, size)
    return F.interpolate(x, size=size, mode="nearest")


def gather_levels(levels: List[torch.Tensor], refine_level: int) -> torch.Tensor:
    """Mean of the levels resized to level ``refine_level``."""
    size = levels[refine_level].shape[-2:]
    return sum(_resize(x, size) for x in levels) / len(levels)


def scatter_levels(fused: torch.Tensor, levels: List[torch.Tensor]) -> List[torch.Tensor]:
    """Each level plus the fused map resized to it."""
    return [x + _resize(fused, x.shape[-2:]) for x in levels]


def _lrelu(x):
    return F.leaky_relu(x, 0.1)


class TCEAFusion(nn.Module):
    """EDVR's TCEA fusion of ``frames`` feature maps (index ``center`` = the target):
    temporal attention ``sigmoid(<emb(frame), emb(center)>)`` per pixel, a 1×1 fusion conv, and
    a two-scale spatial attention applied as ``fea * att * 2 + att_add``."""

    def __init__(self, channels: int, frames: int = 2, center: int = 0):
        super().__init__()
        c = channels
        self.center = center
        self.t_emb = nn.Conv2d(c, c, 3, padding=1)
        self.t_emb_center = nn.Conv2d(c, c, 3, padding=1)
        self.fusion = nn.Conv2d(frames * c, c, 1)
        self.s_att1 = nn.Conv2d(frames * c, c, 1)
        self.s_att2 = nn.Conv2d(2 * c, c, 1)
        self.s_att_l1 = nn.Conv2d(c, c, 1)
        self.s_att_l2 = nn.Conv2d(2 * c, c, 3, padding=1)
        self.s_att_l3 = nn.Conv2d(c, c, 3, padding=1)
        self.s_att3 = nn.Conv2d(c, c, 3, padding=1)
        self.s_att4 = nn.Conv2d(c, c, 1)
        self.s_att5 = nn.Conv2d(c, c, 3, padding=1)
        self.s_att_add1 = nn.Conv2d(c, c, 1)
        self.s_att_add2 = nn.Conv2d(c, c, 1)

    @staticmethod
    def _pool_pair(x):
        return torch.cat(
            [F.max_pool2d(x, 3, 2, 1), F.avg_pool2d(x, 3, 2, 1, count_include_pad=True)], dim=1
        )

    def forward(self, frames: List[torch.Tensor]) -> torch.Tensor:
        center = self.t_emb_center(frames[self.center])
        weighted = [
            x * torch.sigmoid((self.t_emb(x) * center).sum(dim=1, keepdim=True)) for x in frames
        ]
        aligned = torch.cat(weighted, dim=1)
        fea = _lrelu(self.fusion(aligned))
        att = _lrelu(self.s_att1(aligned))
        att = _lrelu(self.s_att2(self._pool_pair(att)))  # 1/2
        att_l = _lrelu(self.s_att_l1(att))
        att_l = _lrelu(self.s_att_l2(self._pool_pair(att_l)))  # 1/4
        att_l = _lrelu(self.s_att_l3(att_l))
        att_l = F.interpolate(att_l, size=att.shape[-2:], mode="bilinear", align_corners=False)
        att = _lrelu(self.s_att3(att)) + att_l
        att = _lrelu(self.s_att4(att))
        att = F.interpolate(att, size=fea.shape[-2:], mode="bilinear", align_corners=False)
        att = self.s_att5(att)
        att_add = self.s_att_add2(_lrelu(self.s_att_add1(att)))
        return fea * torch.sigmoid(att) * 2 + att_add


class FuseModule(nn.Module):
    """Fuses the reference frame's FPN features into the target's (module docstring)."""

    def __init__(self, channels: int, refine_level: int = 0, corr_range: int = 4):
        super().__init__()
        self.refine_level, self.corr_range = refine_level, corr_range
        corr_channels = (2 * corr_range + 1) ** 2
        self.flow_residual = nn.Sequential(
            nn.Conv2d(corr_channels + channels + 2, 64, 3, padding=1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(64, 64, 3, padding=1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(64, 32, 3, padding=1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(32, 2, 3, padding=1),
        )
        # the residual starts at zero: training begins from the given flow
        nn.init.zeros_(self.flow_residual[-1].weight)
        nn.init.zeros_(self.flow_residual[-1].bias)
        self.tcea = TCEAFusion(channels)
        self.refine = nn.Conv2d(channels, channels, 3, padding=1)
        # the scattered residual starts at zero: a model fine-tuned from image weights (as
        # VPSNet's fusetrack stage is) starts from its image features
        nn.init.zeros_(self.refine.weight)
        nn.init.zeros_(self.refine.bias)

    def align(self, target: torch.Tensor, reference: torch.Tensor, flow: torch.Tensor):
        """The reference gather warped onto the target gather: flow (input resolution, input
        pixels) resized and rescaled to the gather, then the learned residual."""
        h, w = target.shape[-2:]
        scale = torch.tensor([w / flow.shape[-1], h / flow.shape[-2]], device=flow.device)
        flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
        flow = flow * scale.to(flow.dtype)[None, :, None, None]
        warped = warp(reference, flow)
        corr = correlation(target, warped, self.corr_range)
        residual = self.flow_residual(torch.cat([corr, target, flow], dim=1))
        return warp(warped, residual)

    def forward(
        self,
        features: Dict[str, torch.Tensor],
        ref_features: Dict[str, torch.Tensor],
        flow: torch.Tensor,
    ) -> Dict[str, torch.Tensor]:
        names = list(features)
        target = gather_levels([features[n] for n in names], self.refine_level)
        reference = gather_levels([ref_features[n] for n in names], self.refine_level)
        fused = self.refine(self.tcea([target, self.align(target, reference, flow)]))
        return dict(zip(names, scatter_levels(fused, [features[n] for n in names])))
