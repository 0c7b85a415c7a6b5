"""BatchNorm folded into the preceding convolution at inference, without changing the model:
``FoldedConvBN`` (a callable cache) and ``fold_batchnorm_at_inference`` (for detectron2 convs)."""

import torch
import torch.nn.functional as F
from detectron2.layers import Conv2d
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

__all__ = ["FoldedConvBN", "fold_batchnorm_at_inference"]


class FoldedConvBN:
    """Callable ``(conv, bn, x) -> bn(conv(x))`` for an eval-mode ``bn`` and no autograd: one
    convolution (``Conv2d`` or ``ConvTranspose2d``) with the folded weight and bias, computed
    once and kept until any of the tensors involved is replaced or modified in place
    (``load_state_dict``, ``.to()``, an optimizer step). Not a module: it adds nothing to the
    state dict."""

    def __init__(self):
        self._key = None
        self._folded = None

    def __call__(self, conv, bn, x):
        if torch.compiler.is_compiling():  # the compiler folds BN itself (freezing); no cache
            x = _conv(conv, x, conv.weight, conv.bias)
            return F.batch_norm(
                x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps
            )
        tensors = (conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.weight, bn.bias)
        key = tuple((id(t), t._version) for t in tensors if t is not None) + (bn.eps,)
        if key != self._key:
            with torch.no_grad():
                w, b = fuse_conv_bn_weights(
                    *tensors[:4], bn.eps, *tensors[4:], isinstance(conv, nn.ConvTranspose2d)
                )
            self._folded, self._key = (w.detach(), b.detach()), key
        return _conv(conv, x, *self._folded)


def _conv(conv, x, weight, bias):
    """``conv`` (``Conv2d`` or ``ConvTranspose2d``) applied with ``weight`` and ``bias``."""
    if isinstance(conv, nn.ConvTranspose2d):
        return F.conv_transpose2d(x, weight, bias, conv.stride, conv.padding,
                                  conv.output_padding, conv.groups, conv.dilation)  # fmt: skip
    return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)


class _InferenceFoldedConv2d(Conv2d):
    """detectron2 ``Conv2d`` whose BatchNorm is folded into the convolution when neither
    training nor recording gradients (same parameters and state dict)."""

    def forward(self, x):
        if self.training or torch.is_grad_enabled():
            return super().forward(x)
        x = self._fold(self, self.norm, x)
        return self.activation(x) if self.activation is not None else x


def fold_batchnorm_at_inference(module):
    """Every detectron2 ``Conv2d`` in ``module`` followed by a BatchNorm with running statistics
    (``BatchNorm2d`` in eval, ``FrozenBatchNorm2d``) computes conv + BN as one convolution at
    inference (``FoldedConvBN``). Training and the state dict are unchanged; the float rounding
    of the result is not bit-identical (≈ 1e-6 relative). Returns ``module``."""
    for m in module.modules():
        if type(m) is Conv2d and m.norm is not None and hasattr(m.norm, "running_var"):
            m.__class__ = _InferenceFoldedConv2d
            m._fold = FoldedConvBN()
    return module
