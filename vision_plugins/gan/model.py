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
"""

import contextlib
from typing import Dict, Sequence

import torch
from torch import nn

from ..layers.modes import buffers_restored, training_mode

__all__ = ["TranslationModel", "to_grayscale"]


def to_grayscale(images):
    """(N, 3, H, W) 0..255 RGB -> (N, 1, H, W), PIL's ``convert("L")`` integer formula (the
    official ``transforms.Grayscale`` when ``input_nc`` / ``output_nc`` is 1)."""
    r, g, b = images.round().to(torch.int64).unbind(1)
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).unsqueeze(1).to(images.dtype)


class TranslationModel(nn.Module):
    """Base of the two-player image-to-image meta-architectures (see the module docstring).

    Subclasses set ``players`` (``{"G": names, "D": names}`` of their networks) and
    ``step_order``, and implement :meth:`generate` (-> dict of tensors kept for the phases and
    :meth:`visuals`), :meth:`player_losses` and :meth:`translate` (evaluation).

    ``test_train_mode``: at evaluation the generators run in training mode -- dropout on,
    BatchNorm on the test batch's statistics -- as the official ``test.py`` does without
    ``--eval`` (the running statistics are left untouched)."""

    players: Dict[str, Sequence[str]] = {}
    step_order: Sequence[str] = ()
    visual_names: Sequence[str] = ()

    def __init__(self, *, input_nc, output_nc, test_train_mode):
        super().__init__()
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.test_train_mode = test_train_mode
        self._cache = {}

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
        return ((y + 1) / 2 * 255).clamp(0, 255)

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

    def inference(self, batched_inputs):
        """``[{"image": ...}, ...]`` (see the module docstring), the generators in the official
        test mode (``test_train_mode``)."""
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.no_grad())
            if self.test_train_mode:
                for net in self.networks("G"):
                    stack.enter_context(buffers_restored(net))
                    stack.enter_context(training_mode(net))
            return self.translate(batched_inputs)
