"""DensePose head (stacked convs) and chart predictor, with the parameter names of detectron2's
DensePose project (``body_conv_fcn{k}``; ``ann_index_lowres``, ``index_uv_lowres``,
``u_lowres``, ``v_lowres``), so its ``*_legacy`` checkpoints load unchanged."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DensePoseUVHead", "DensePoseUVPredictor", "DensePoseUVOutput"]


def _msra(module):
    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    nn.init.zeros_(module.bias)


class DensePoseUVHead(nn.Module):
    """``num_convs`` x (conv k×k, ``dim`` channels, ReLU), MSRA-initialised."""

    def __init__(self, in_channels: int, num_convs: int = 8, dim: int = 512, kernel: int = 3):
        super().__init__()
        self.num_convs = num_convs
        for k in range(num_convs):
            conv = nn.Conv2d(in_channels if k == 0 else dim, dim, kernel, padding=kernel // 2)
            _msra(conv)
            self.add_module(f"body_conv_fcn{k + 1}", conv)
        self.out_channels = dim

    def forward(self, x):
        for k in range(self.num_convs):
            x = F.relu(getattr(self, f"body_conv_fcn{k + 1}")(x))
        return x


@dataclass
class DensePoseUVOutput:
    """``pred_densepose``: raw maps on the box grid, N×C×S×S (``coarse_segm``: coarse parts +
    background; ``fine_segm``, ``u``, ``v``: fine parts + background)."""

    coarse_segm: torch.Tensor
    fine_segm: torch.Tensor
    u: torch.Tensor
    v: torch.Tensor

    def __len__(self):
        return len(self.coarse_segm)

    def __getitem__(self, item):
        if isinstance(item, int):
            item = slice(item, item + 1)
        return DensePoseUVOutput(
            self.coarse_segm[item], self.fine_segm[item], self.u[item], self.v[item]
        )

    def to(self, device):
        return DensePoseUVOutput(
            *(t.to(device) for t in (self.coarse_segm, self.fine_segm, self.u, self.v))
        )


class DensePoseUVPredictor(nn.Module):
    """Four ``ConvTranspose2d(dim, C, kernel, stride 2, padding kernel/2 - 1)`` followed by
    bilinear upsampling × ``up_scale`` (``align_corners=False``)."""

    def __init__(
        self, dim: int, num_patches: int, num_coarse: int, kernel: int = 4, up_scale: int = 2
    ):
        super().__init__()
        pad = kernel // 2 - 1
        for name, channels in (
            ("ann_index_lowres", num_coarse),
            ("index_uv_lowres", num_patches + 1),
            ("u_lowres", num_patches + 1),
            ("v_lowres", num_patches + 1),
        ):
            deconv = nn.ConvTranspose2d(dim, channels, kernel, stride=2, padding=pad)
            _msra(deconv)
            self.add_module(name, deconv)
        self.up_scale = up_scale

    def forward(self, x) -> DensePoseUVOutput:
        def up(t):
            return F.interpolate(
                t, scale_factor=self.up_scale, mode="bilinear", align_corners=False
            )

        return DensePoseUVOutput(
            coarse_segm=up(self.ann_index_lowres(x)),
            fine_segm=up(self.index_uv_lowres(x)),
            u=up(self.u_lowres(x)),
            v=up(self.v_lowres(x)),
        )
