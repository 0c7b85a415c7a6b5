"""``TranslationModel``: what the image-to-image meta-architectures share.

The contract with ``engine.TwoPlayerTrainer`` (its module docstring): ``players``,
``step_order``, ``player_parameters``, ``forward(batched_inputs, phase=...)`` with the phases
``"generate"`` (computes and keeps the fakes of the batch once per iteration), ``"G"`` and
``"D"`` (that player's loss terms), and ``visuals()`` for the image-grid hook.

Inputs are detectron2 dicts whose images are float (C, H, W) tensors of 0..255 RGB values (what
the mappers and ``Predictor`` give every model); they become the official network input by
``x / 255`` then ``(x - 0.5) / 0.5`` -- the two steps of the official ``ToTensor`` +
``Normalize`` in float32, bit for bit. In evaluation the model returns, per input,
``{"image": (C, H, W) float 0..255}`` = ``(y + 1) / 2 * 255`` of the generator output ``y``
(clamped to 0..255), at the network's resolution.

Inference on CPU in float32 runs the generators through :func:`fast_inference_kernels` (oneDNN
convolutions on weights reordered once and cached, instance norm through ``group_norm``): the
same weights and operations, other kernels -- outputs equal to the plain modules' to float
rounding (~1e-5 on the [-1, 1] outputs), dropout masks drawn exactly as the plain modules draw
them.
"""

import contextlib
from typing import Dict, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..layers.modes import buffers_restored, training_mode
from .losses import GANLoss

__all__ = ["TranslationModel", "fast_inference_kernels", "to_grayscale"]


def to_grayscale(images):
    """(N, 3, H, W) 0..255 RGB -> (N, 1, H, W), PIL's ``convert("L")`` integer formula (the
    official ``transforms.Grayscale`` when ``input_nc`` / ``output_nc`` is 1)."""
    r, g, b = images.round().to(torch.int64).unbind(1)
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).unsqueeze(1).to(images.dtype)


class InferenceWeights(dict):
    """The reordered weights of :func:`fast_inference_kernels` (module -> (key, opaque oneDNN
    tensor)): a cache, copied (``copy.deepcopy``) and pickled (``torch.save(model)``) empty."""

    def __deepcopy__(self, memo):
        return type(self)()

    def __reduce__(self):
        return (type(self), ())


def _plain(module):
    """No hooks that could change the weight (spectral norm, parametrizations) before forward."""
    return not module._forward_pre_hooks and not hasattr(module, "parametrizations")


def _packed_convolution(conv, cache):
    """``conv.forward`` with its weight reordered once into oneDNN's blocked layout for the input
    shape (what the plain CPU convolution redoes at every call -- for the U-Net's 512-channel
    layers on small maps most of its time) and kept in ``cache`` until the weight changes
    (``_version`` / storage: optimizer steps, ``load_state_dict``, ``.to``). Outputs come in
    channels-last layout."""
    transposed = isinstance(conv, nn.ConvTranspose2d)
    geometry = [list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups]
    if transposed:
        geometry.insert(1, list(conv.output_padding))
    mkldnn = torch.ops.mkldnn

    def forward(x, *args, **kwargs):
        w = conv.weight
        usable = (
            not args
            and not kwargs  # ConvTranspose2d's output_size: the plain forward
            and x.dim() == 4
            and x.dtype == w.dtype == torch.float32
            and x.device.type == w.device.type == "cpu"
            and not x.requires_grad
            and not x.is_mkldnn
            and not torch.jit.is_tracing()
        )
        if not usable:
            return type(conv).forward(conv, x, *args, **kwargs)
        key = (tuple(x.shape), w._version, w.data_ptr())
        entry = cache.get(conv)
        if entry is None or entry[0] != key:
            reorder = (
                mkldnn._reorder_convolution_transpose_weight
                if transposed
                else mkldnn._reorder_convolution_weight
            )
            entry = cache[conv] = (key, reorder(w.detach(), *geometry, list(x.shape)))
        op = (
            mkldnn._convolution_transpose_pointwise if transposed else mkldnn._convolution_pointwise
        )
        return op(x, entry[1], conv.bias, *geometry, "none", [], "")

    return forward


def _group_norm_instance_norm(norm):
    """``InstanceNorm2d.forward`` (instance statistics) as ``group_norm`` with one group per
    channel: the same normalisation, a faster kernel (and one that keeps channels-last)."""

    def forward(x):
        if x.dim() != 4:
            return type(norm).forward(norm, x)
        return F.group_norm(x, x.shape[1], norm.weight, norm.bias, norm.eps)

    return forward


def _contiguous_dropout(dropout):
    """``Dropout.forward`` on the input in the default (NCHW) layout: the mask is drawn in memory
    order, so a channels-last input (after a packed convolution) would get the same draws on
    other elements."""

    def forward(x):
        return type(dropout).forward(dropout, x.contiguous())

    return forward


@contextlib.contextmanager
def fast_inference_kernels(nets, cache):
    """Inside the block, the ``nn.Conv2d`` / ``nn.ConvTranspose2d`` (zero padding),
    ``nn.InstanceNorm2d`` (without running statistics) and ``nn.Dropout`` modules of ``nets``
    run their CPU float32 no-grad forwards through :func:`_packed_convolution`,
    :func:`_group_norm_instance_norm` and :func:`_contiguous_dropout` (instance ``forward``
    attributes, removed on exit; hooks still run). ``cache`` (a dict, e.g.
    :class:`InferenceWeights`) keeps the reordered weights between blocks. Nothing changes
    when oneDNN is unavailable or disabled, while tracing or scripting (FLOP counting, export:
    the plain modules are traced), or with gradients enabled."""
    if (
        torch.is_grad_enabled()
        or torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled)
        or not hasattr(torch.ops.mkldnn, "_convolution_transpose_pointwise")
    ):
        yield
        return
    swapped = []
    for net in nets:
        for m in net.modules():
            kind = type(m)
            if kind in (nn.Conv2d, nn.ConvTranspose2d) and m.padding_mode == "zeros":
                forward = _packed_convolution(m, cache) if _plain(m) else None
            elif kind is nn.InstanceNorm2d and m.running_mean is None:
                forward = _group_norm_instance_norm(m) if _plain(m) else None
            elif kind is nn.Dropout:
                forward = _contiguous_dropout(m)
            else:
                continue
            if forward is not None and "forward" not in vars(m):
                m.forward = forward
                swapped.append(m)
    try:
        yield
    finally:
        for m in swapped:
            del m.forward


class TranslationModel(nn.Module):
    """Base of the two-player image-to-image meta-architectures (see the module docstring).

    Subclasses set ``players`` (``{"G": names, "D": names}`` of their networks) and
    ``step_order``, and implement :meth:`generate` (-> dict of tensors kept for the phases and
    :meth:`visuals`), :meth:`player_losses` and :meth:`translate` (evaluation).

    ``test_train_mode``: at evaluation the generators run in training mode -- dropout on,
    BatchNorm on the test batch's statistics -- as the official ``test.py`` does without
    ``--eval`` (the running statistics are left untouched). ``gan_mode`` / ``gan_weight`` /
    ``gp_lambda``: the adversarial loss (``criterion_gan``), the weight of its generator terms
    and of the gradient penalty (``wgangp`` only). :meth:`shared_config` reads them all from
    ``MODEL.GAN``."""

    players: Dict[str, Sequence[str]] = {}
    step_order: Sequence[str] = ()
    visual_names: Sequence[str] = ()

    def __init__(self, *, input_nc, output_nc, test_train_mode, gan_mode, gan_weight, gp_lambda):
        super().__init__()
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.test_train_mode = test_train_mode
        self.criterion_gan = GANLoss(gan_mode)
        self.gan_mode = gan_mode
        self.gan_weight = gan_weight
        self.gp_lambda = gp_lambda
        self._cache = {}
        self._inference_weights = InferenceWeights()  # see fast_inference_kernels

    @staticmethod
    def shared_config(cfg):
        """The constructor arguments of this base class, from ``MODEL.GAN``."""
        g = cfg.MODEL.GAN
        return {
            "input_nc": g.INPUT_NC,
            "output_nc": g.OUTPUT_NC,
            "test_train_mode": g.TEST_TRAIN_MODE,
            "gan_mode": g.LOSS.MODE,
            "gan_weight": g.LOSS.GAN_WEIGHT,
            "gp_lambda": g.LOSS.GP_LAMBDA,
        }

    @property
    def device(self):
        return next(self.parameters()).device

    def networks(self, player):
        return [getattr(self, name) for name in self.players[player]]

    def player_parameters(self, player):
        """Parameters of ``player`` ("G" or "D"), in the official optimizer order."""
        for net in self.networks(player):
            yield from net.parameters()

    def set_requires_grad(self, player, flag):
        """The official ``set_requires_grad``: freeze / unfreeze a player's networks."""
        for p in self.player_parameters(player):
            p.requires_grad_(flag)

    def normalize(self, batched_inputs, key, channels):
        """The batch's ``key`` images as the official network input ((N, C, H, W) in [-1, 1])."""
        images = []
        for d in batched_inputs:
            if key not in d:
                raise KeyError(
                    f"{type(self).__name__}: input dict without {key!r} "
                    f"(file {d.get('file_name', '?')}); keys: {sorted(d)}"
                )
            images.append(d[key].to(self.device, torch.float32))
        x = torch.stack(images)
        if channels == 1 and x.shape[1] == 3:
            x = to_grayscale(x)
        elif x.shape[1] != channels:
            raise ValueError(
                f"{type(self).__name__}: {key!r} has {x.shape[1]} channels, the network takes "
                f"{channels} (MODEL.GAN.INPUT_NC / OUTPUT_NC)"
            )
        return (x / 255 - 0.5) / 0.5

    @staticmethod
    def to_pixels(y):
        """Generator output in [-1, 1] -> 0..255 values (the official ``tensor2im`` scaling)."""
        return ((y + 1) / 2 * 255).clamp(0, 255).contiguous()

    def forward(self, batched_inputs, phase=None):
        if not self.training:
            return self.inference(batched_inputs)
        if phase == "generate":
            self._cache = self.generate(batched_inputs)
            return self._cache
        if phase in self.players:
            if not self._cache:
                raise RuntimeError(f"phase {phase!r} before phase 'generate' in this iteration")
            return self.player_losses(phase)
        raise ValueError(
            f"{type(self).__name__} trains with two optimizers: call it with phase='generate', "
            f"then phase in {self.step_order} (vision_plugins.engine.TwoPlayerTrainer does; "
            f"tools/train_net.py picks it); got phase={phase!r}"
        )

    def visuals(self):
        """The last training batch's named images ((N, C, H, W) in [-1, 1])."""
        return {k: self._cache[k].detach() for k in self.visual_names if k in self._cache}

    def train(self, mode=True):
        if mode:  # training changes the weights: drop the inference copies
            self._inference_weights.clear()
        return super().train(mode)

    def inference(self, batched_inputs):
        """``[{"image": ...}, ...]`` (see the module docstring), the generators in the official
        test mode (``test_train_mode``), through :func:`fast_inference_kernels`."""
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.no_grad())
            if self.test_train_mode:
                for net in self.networks("G"):
                    stack.enter_context(buffers_restored(net))
                    stack.enter_context(training_mode(net))
            nets = self.networks("G")
            stack.enter_context(fast_inference_kernels(nets, self._inference_weights))
            return self.translate(batched_inputs)
