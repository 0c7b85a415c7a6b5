"""FoldedConvBN equals bn(conv(x)) and follows every change of the tensors it folds."""

import torch
from torch import nn

from vision_plugins.layers import FoldedConvBN


def _conv_bn(bias=True):
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=bias), nn.BatchNorm2d(6).eval()
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2)
        bn.weight.normal_()
        bn.bias.normal_()
    return conv, bn


def test_equals_conv_then_bn_with_and_without_conv_bias():
    x = torch.randn(2, 4, 9, 9)
    for bias in (True, False):
        conv, bn = _conv_bn(bias)
        with torch.no_grad():
            torch.testing.assert_close(FoldedConvBN()(conv, bn, x), bn(conv(x)))


def test_cache_follows_in_place_updates_and_replaced_tensors():
    conv, bn = _conv_bn()
    fold, x = FoldedConvBN(), torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        first = fold(conv, bn, x)
        assert fold(conv, bn, x) is not first and torch.equal(fold(conv, bn, x), first)
        bn.running_var.mul_(4)  # in place, e.g. load_state_dict
        torch.testing.assert_close(fold(conv, bn, x), bn(conv(x)))
        conv.weight = nn.Parameter(conv.weight * 2)  # replaced
        torch.testing.assert_close(fold(conv, bn, x), bn(conv(x)))
        bn.eps = 1.0
        torch.testing.assert_close(fold(conv, bn, x), bn(conv(x)))


def test_transposed_conv_folds_too():
    torch.manual_seed(0)
    conv = nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1, bias=False)
    _, bn = _conv_bn()
    x = torch.randn(2, 4, 5, 7)
    with torch.no_grad():
        out = FoldedConvBN()(conv, bn, x)
        assert out.shape == (2, 6, 10, 14)
        torch.testing.assert_close(out, bn(conv(x)))
