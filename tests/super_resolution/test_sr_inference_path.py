"""The generators' no-gradient paths (ReLU / LeakyReLU / residual adds in place on the fresh
outputs of convolutions) compute what the training paths compute, bit for bit; through the GAN
layer's packed inference kernels to float rounding."""

import torch

from vision_plugins.gan.model import InferenceWeights, fast_inference_kernels
from vision_plugins.super_resolution.networks import MSRResNet, RRDBNet


def _check(net, x, scale):
    reference = net(x).detach()  # gradients on: the training path
    with torch.no_grad():
        assert torch.equal(net(x), reference)
        with fast_inference_kernels([net], InferenceWeights()):
            fast = net(x)
    assert fast.shape == (x.shape[0], 3, x.shape[2] * scale, x.shape[3] * scale)
    assert torch.allclose(fast, reference, atol=1e-6, rtol=0)


def test_rrdbnet_in_place_inference_is_bit_identical():
    torch.manual_seed(0)
    net = RRDBNet(input_nc=3, output_nc=3, num_feat=16, num_block=2, gc=8, scale=4).eval()
    _check(net, torch.rand(2, 3, 11, 9), 4)


def test_msrresnet_in_place_inference_is_bit_identical():
    for scale in (2, 3, 4):
        torch.manual_seed(0)
        net = MSRResNet(input_nc=3, output_nc=3, num_feat=8, num_block=2, scale=scale).eval()
        _check(net, torch.rand(1, 3, 7, 5), scale)
