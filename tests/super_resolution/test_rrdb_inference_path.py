"""RRDBNet's no-gradient path (preallocated dense-block buffer, in-place LeakyReLU, ``add`` with
alpha; the dense convolutions kept out of the GAN layer's packed kernels) computes what the
training path computes."""

import torch
from torch import nn

from vision_plugins.gan.model import InferenceWeights, fast_inference_kernels
from vision_plugins.super_resolution.networks import RRDBNet


def _net():
    torch.manual_seed(0)
    return RRDBNet(input_nc=3, output_nc=3, num_feat=16, num_block=2, gc=8, scale=4).eval()


def test_no_grad_path_equals_the_training_path():
    net, x = _net(), torch.rand(2, 3, 11, 9)
    reference = net(x).detach()  # gradients on: torch.cat path
    with torch.no_grad():
        fast = net(x)
        with fast_inference_kernels([net], InferenceWeights()):
            fast_kernels = net(x)
    assert fast.shape == (2, 3, 44, 36)
    assert torch.allclose(fast, reference, atol=1e-6, rtol=0)
    assert torch.allclose(fast_kernels, reference, atol=1e-6, rtol=0)


def test_dense_convolutions_are_not_swapped_by_fast_inference_kernels():
    net = _net()
    with torch.no_grad(), fast_inference_kernels([net], InferenceWeights()):
        dense = net.RRDB_trunk[0].RDB1.conv1
        assert isinstance(dense, nn.Conv2d) and "forward" not in vars(dense)
        if torch.backends.mkldnn.is_available():  # the other convolutions are packed
            assert "forward" in vars(net.conv_first)
    assert set(net.state_dict()) >= {"RRDB_trunk.0.RDB1.conv1.weight", "trunk_conv.weight"}
