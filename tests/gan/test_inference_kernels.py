"""``gan.model.fast_inference_kernels``: the generators' CPU inference kernels (reordered oneDNN
weights, group-norm instance norm, dropout on NCHW inputs) give the plain modules' outputs to
float rounding, with the same dropout masks, follow weight changes, and leave nothing behind."""

import copy

import pytest
import torch

from vision_plugins.engine import Predictor, setup_cfg
from vision_plugins.gan import ResnetGenerator, UnetGenerator, init_weights
from vision_plugins.gan.model import InferenceWeights, fast_inference_kernels

pytestmark = pytest.mark.skipif(
    not torch.backends.mkldnn.is_available(), reason="oneDNN (mkldnn) is not available"
)


def _nets():
    torch.manual_seed(0)
    unet = UnetGenerator(3, 3, 6, ngf=8, norm="batch", use_dropout=True)
    resnet = ResnetGenerator(3, 2, 8, norm="instance", use_dropout=True, n_blocks=2)
    for net in (unet, resnet):
        init_weights(net, "normal", 0.02)
    return [(unet, (2, 3, 64, 64)), (resnet, (2, 3, 36, 44))]


def _forward(net, x, fast, cache, seed=5):
    torch.manual_seed(seed)
    with torch.no_grad():
        if not fast:
            return net(x)
        with fast_inference_kernels([net], cache):
            return net(x)


@pytest.mark.parametrize("training", [True, False])
def test_outputs_and_dropout_masks_are_the_plain_modules(training):
    for net, shape in _nets():
        net.train(training)
        x = torch.rand(shape) * 2 - 1
        cache = InferenceWeights()
        plain = _forward(net, x, False, cache)
        fast = _forward(net, x, True, cache)
        assert (fast - plain).abs().max() < 1e-4  # a different dropout mask: ~1
        assert len(cache) == sum(
            isinstance(m, torch.nn.modules.conv._ConvNd) for m in net.modules()
        )
        assert not any("forward" in vars(m) for m in net.modules())  # restored
        if training:  # dropout is random: another seed, other outputs
            assert (_forward(net, x, True, cache, seed=6) - fast).abs().max() > 0.01


def test_weight_changes_are_followed():
    net, shape = _nets()[1]
    x = torch.rand(shape)
    cache = InferenceWeights()
    _forward(net, x, True, cache)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1.5)
    assert (_forward(net, x, True, cache) - _forward(net, x, False, cache)).abs().max() < 1e-4
    net.load_state_dict({k: v * 0.5 for k, v in net.state_dict().items()})
    assert (_forward(net, x, True, cache) - _forward(net, x, False, cache)).abs().max() < 1e-4
    _forward(net, torch.rand(1, 3, 20, 28), True, cache)  # another input size: repacked
    assert (_forward(net, x, True, cache) - _forward(net, x, False, cache)).abs().max() < 1e-4


def test_plain_modules_with_gradients_or_when_tracing():
    net, shape = _nets()[1]
    cache = InferenceWeights()
    with fast_inference_kernels([net], cache):  # gradients enabled: untouched
        assert not any("forward" in vars(m) for m in net.modules())
        net(torch.rand(shape)).sum().backward()
    assert not cache
    with torch.no_grad(), fast_inference_kernels([net], cache):
        traced = torch.jit.trace(net.eval(), torch.rand(shape))
    assert "mkldnn" not in str(traced.graph)  # (the trace check's eager rerun may pack)


def test_model_cache_is_dropped_for_training_and_copies():
    cfg = setup_cfg("configs/CycleGAN/cyclegan_resnet6_synth.yaml", ["MODEL.GAN.N_BLOCKS", "1"])
    predictor = Predictor(cfg)
    model = predictor.model
    predictor(torch.randint(0, 256, (40, 30, 3), dtype=torch.uint8).numpy())
    assert len(model._inference_weights) > 0
    model.fake_A_pool.rng = model.fake_B_pool.rng = None  # (the global random module: no copy)
    assert len(copy.deepcopy(model)._inference_weights) == 0
    model.train()
    assert len(model._inference_weights) == 0
