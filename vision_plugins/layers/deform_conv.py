"""``ModulatedDeformConv2d``: DCNv2 (modulated deformable convolution) on torchvision's op.

Parameter layout of the widely used ``DCNv2`` package (``dcn_v2.DCN``), so official checkpoints
load unchanged: ``weight``, ``bias`` and ``conv_offset_mask`` (a biased conv with the layer's
kernel, stride and padding giving 3·G·k·k channels: the first 2·G·k·k are the offsets, (y, x)
per kernel tap as torchvision expects, the last G·k·k the modulation logits). Runs on CPU and
GPU with autograd (no compiled extension).
"""

import torch
from torch import nn
from torch.nn.modules.utils import _pair
from torchvision.ops import deform_conv2d

__all__ = ["ModulatedDeformConv2d"]


class ModulatedDeformConv2d(nn.Module):
    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        deformable_groups=1,
        bias=True,
        norm=None,
    ):
        """``norm``: optional module applied to the output (detectron2's ``Conv2d`` convention,
        so ResNet blocks keep their ``convK.norm`` parameter names)."""
        super().__init__()
        self.norm = norm
        self.stride, self.padding = _pair(stride), _pair(padding)
        self.dilation, self.kernel_size = _pair(dilation), _pair(kernel_size)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        taps = deformable_groups * self.kernel_size[0] * self.kernel_size[1]
        self.conv_offset_mask = nn.Conv2d(
            in_channels, 3 * taps, self.kernel_size, self.stride, self.padding, self.dilation
        )
        nn.init.kaiming_uniform_(self.weight, a=1)
        # zero offsets and modulation 0.5 at start, as DCNv2 initialises them
        nn.init.zeros_(self.conv_offset_mask.weight)
        nn.init.zeros_(self.conv_offset_mask.bias)

    def forward(self, x):
        out = self.conv_offset_mask(x)
        taps2 = out.shape[1] * 2 // 3
        x = deform_conv2d(
            x,
            out[:, :taps2],
            self.weight,
            self.bias,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            mask=out[:, taps2:].sigmoid(),
        )
        return self.norm(x) if self.norm is not None else x

    def extra_repr(self):
        return (
            f"{self.weight.shape[1]}, {self.weight.shape[0]}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}"
        )
