"""``FoldedConvBN``: ``bn(conv(x))`` at inference as one convolution with BN folded in."""

import torch
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_weights

__all__ = ["FoldedConvBN"]


class FoldedConvBN:
    """Callable ``(conv, bn, x) -> bn(conv(x))`` for an eval-mode ``bn`` and no autograd: one
    convolution with the folded weight and bias, computed once and kept until any of the
    tensors involved is replaced or modified in place (``load_state_dict``, ``.to()``, an
    optimizer step). Not a module: it adds nothing to the state dict."""

    def __init__(self):
        self._key = None
        self._folded = None

    def __call__(self, conv, bn, x):
        tensors = (conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.weight, bn.bias)
        key = tuple((id(t), t._version) for t in tensors if t is not None) + (bn.eps,)
        if key != self._key:
            with torch.no_grad():
                w, b = fuse_conv_bn_weights(*tensors[:4], bn.eps, *tensors[4:])
            self._folded, self._key = (w.detach(), b.detach()), key
        weight, bias = self._folded
        return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)
