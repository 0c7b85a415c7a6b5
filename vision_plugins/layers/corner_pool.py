"""Building blocks of the CornerNet family (CornerNet, CenterNet-Triplet, Hourglass-104), with the
module names of the official checkpoints (princeton-vl/CornerNet, Duankaiwen/CenterNet):

- ``ConvBNReLU``: the official ``convolution`` (k x k conv, BN — or a biased conv without BN —,
  ReLU; keys ``conv`` / ``bn``);
- ``KPHead``: a prediction head, conv3x3 (bias, ReLU, no BN) then conv1x1 (keys ``0.conv`` /
  ``1``);
- ``CornerPoolModule``: CornerNet's corner pooling module (``tl``: top + left pools, ``br``:
  bottom + right), with CenterNet-Triplet's cascade variant (``cascade=True``);
- ``CenterPoolModule``: CenterNet-Triplet's centre pooling (column max + row max).

At inference (eval, no autograd) every conv followed by a BatchNorm runs as one folded conv
(``FoldedConvBN``): same weights and state dict, float rounding only.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .center_heatmaps import bottom_pool, left_pool, right_pool, top_pool
from .conv_bn import FoldedConvBN

__all__ = ["CenterPoolModule", "ConvBNReLU", "CornerPoolModule", "KPHead", "conv_bn"]


def conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d, fold: FoldedConvBN, x: torch.Tensor):
    """``bn(conv(x))``, computed as one folded conv at inference."""
    if conv.training or torch.is_grad_enabled():
        return bn(conv(x))
    return fold(conv, bn, x)


class ConvBNReLU(nn.Module):
    """k x k conv ("same" padding) - BN - ReLU; without BN the conv has a bias."""

    def __init__(self, kernel_size, in_channels, out_channels, stride=1, with_bn=True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                              (kernel_size - 1) // 2, bias=not with_bn)  # fmt: skip
        self.bn = nn.BatchNorm2d(out_channels) if with_bn else None
        self._fold = FoldedConvBN()

    def forward(self, x):
        x = self.conv(x) if self.bn is None else conv_bn(self.conv, self.bn, self._fold, x)
        return F.relu(x, inplace=True)


class KPHead(nn.Sequential):
    """conv3x3 (``in_channels`` -> ``mid_channels``, bias, ReLU) - conv1x1 (-> ``out_channels``);
    ``bias`` initialises the last conv's bias (-2.19 for heatmaps, prior ≈ 0.1)."""

    def __init__(self, in_channels, mid_channels, out_channels, bias=None):
        super().__init__(ConvBNReLU(3, in_channels, mid_channels, with_bn=False),
                         nn.Conv2d(mid_channels, out_channels, 1))  # fmt: skip
        if bias is not None:
            nn.init.constant_(self[1].bias, bias)


class _PoolTail(nn.Module):
    """The shared end of the pooling modules: ``relu(p_bn1(p_conv1(pooled)) + bn1(conv1(x)))``
    then ``conv2`` (3x3 conv-BN-ReLU)."""

    def __init__(self, dim, mid):
        super().__init__()
        self.p1_conv1 = ConvBNReLU(3, dim, mid)
        self.p2_conv1 = ConvBNReLU(3, dim, mid)
        self.p_conv1 = nn.Conv2d(mid, dim, 3, padding=1, bias=False)
        self.p_bn1 = nn.BatchNorm2d(dim)
        self.conv1 = nn.Conv2d(dim, dim, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(dim)
        self.conv2 = ConvBNReLU(3, dim, dim)
        self._fold_p, self._fold_1 = FoldedConvBN(), FoldedConvBN()

    def tail(self, x, pooled):
        out = conv_bn(self.p_conv1, self.p_bn1, self._fold_p, pooled)
        out = out + conv_bn(self.conv1, self.bn1, self._fold_1, x)
        return self.conv2(F.relu(out, inplace=True))


class CornerPoolModule(_PoolTail):
    """Corner pooling (``corner`` "tl": pool1 = top, pool2 = left; "br": bottom, right):
    ``pool1(p1_conv1(x)) + pool2(p2_conv1(x))`` then the tail. ``cascade=True`` (Triplet): each
    branch first adds the other direction's pool of a "look" conv, then a 3x3 conv, before its
    own pool: ``pool1(P1_look_conv(p1_conv1(x) + pool2(look_conv1(x))))`` and
    ``pool2(P2_look_conv(p2_conv1(x) + pool1(look_conv2(x))))``."""

    def __init__(self, dim, corner, cascade=False, mid=128):
        super().__init__(dim, mid)
        if corner not in ("tl", "br"):
            raise ValueError(f"corner must be 'tl' or 'br', got {corner!r}")
        self.pool1, self.pool2 = (
            (top_pool, left_pool) if corner == "tl" else (bottom_pool, right_pool)
        )
        self.cascade = cascade
        if cascade:
            self.look_conv1 = ConvBNReLU(3, dim, mid)
            self.look_conv2 = ConvBNReLU(3, dim, mid)
            self.P1_look_conv = nn.Conv2d(mid, mid, 3, padding=1, bias=False)
            self.P2_look_conv = nn.Conv2d(mid, mid, 3, padding=1, bias=False)

    def forward(self, x):
        a, b = self.p1_conv1(x), self.p2_conv1(x)
        if self.cascade:
            a = self.P1_look_conv(a + self.pool2(self.look_conv1(x)))
            b = self.P2_look_conv(b + self.pool1(self.look_conv2(x)))
        return self.tail(x, self.pool1(a) + self.pool2(b))


class CenterPoolModule(_PoolTail):
    """Centre pooling: ``bottom(top(p1_conv1(x)))`` (the column maximum) +
    ``right(left(p2_conv1(x)))`` (the row maximum), then the tail."""

    def __init__(self, dim, mid=128):
        super().__init__(dim, mid)

    def forward(self, x):
        a = bottom_pool(top_pool(self.p1_conv1(x)))
        b = right_pool(left_pool(self.p2_conv1(x)))
        return self.tail(x, a + b)
