"""Adversarial objectives of pix2pix / CycleGAN (junyanz/pytorch-CycleGAN-and-pix2pix @2a7afba,
``models/networks.py``: ``GANLoss`` and ``cal_gradient_penalty``)."""

import torch
from torch import nn

__all__ = ["GAN_LOSS_MODES", "GANLoss", "gradient_penalty"]

GAN_LOSS_MODES = ("vanilla", "lsgan", "wgangp")


class GANLoss(nn.Module):
    """``loss(prediction, target_is_real)`` on raw discriminator outputs (no sigmoid), as the
    official ``GANLoss(gan_mode)``:

    - ``vanilla``: ``BCEWithLogitsLoss`` (mean) against a target filled with ``real_label`` (1)
      or ``fake_label`` (0), of the prediction's shape;
    - ``lsgan``: ``MSELoss`` (mean) against the same target;
    - ``wgangp``: ``-prediction.mean()`` for real, ``+prediction.mean()`` for fake (the labels
      are unused).

    The labels are plain floats, not buffers: the module adds nothing to a state dict.
    """

    def __init__(self, mode, real_label=1.0, fake_label=0.0):
        super().__init__()
        if mode not in GAN_LOSS_MODES:
            raise ValueError(f"unknown GAN loss mode {mode!r}; expected one of {GAN_LOSS_MODES}")
        self.mode = mode
        self.real_label = real_label
        self.fake_label = fake_label
        self.loss = {"vanilla": nn.BCEWithLogitsLoss(), "lsgan": nn.MSELoss()}.get(mode)

    def forward(self, prediction, target_is_real):
        if self.mode == "wgangp":
            return -prediction.mean() if target_is_real else prediction.mean()
        label = self.real_label if target_is_real else self.fake_label
        return self.loss(prediction, prediction.new_tensor(label).expand_as(prediction))

    def extra_repr(self):
        return f"mode={self.mode!r}, real_label={self.real_label}, fake_label={self.fake_label}"


def gradient_penalty(netD, real, fake, type="mixed", constant=1.0, lambda_gp=10.0):
    """WGAN-GP gradient penalty (Gulrajani et al. 2017) with the official
    ``cal_gradient_penalty`` semantics. Returns ``(penalty, gradients)``:

    - the points x are ``real`` (``type="real"``), ``fake`` (``"fake"``) or, for ``"mixed"``,
      ``a * real + (1 - a) * fake`` with one ``a ~ U[0, 1)`` per sample (``torch.rand(B, 1)``
      from torch's global generator, the official draw);
    - ``gradients`` = d sum(netD(x)) / dx flattened to (B, -1), computed with ``create_graph``
      so the penalty can be back-propagated into ``netD``;
    - ``penalty = lambda_gp * mean_b((||gradients_b + 1e-16||_2 - constant)^2)``.

    ``lambda_gp <= 0`` returns ``(0.0, None)`` without calling ``netD``. Unlike the official
    function, a ``real``/``fake`` tensor that does not require gradients is not flagged in
    place: a detached copy is used (same values).
    """
    if lambda_gp <= 0.0:
        return 0.0, None
    if type == "real":
        x = real
    elif type == "fake":
        x = fake
    elif type == "mixed":
        alpha = torch.rand(real.shape[0], 1, device=real.device)
        alpha = alpha.expand(real.shape[0], real.numel() // real.shape[0]).reshape(real.shape)
        x = alpha * real + (1 - alpha) * fake
    else:
        raise ValueError(f"unknown gradient penalty type {type!r}; expected real | fake | mixed")
    if not x.requires_grad:
        x = x.detach().requires_grad_(True)
    out = netD(x)
    (grads,) = torch.autograd.grad(
        outputs=out,
        inputs=x,
        grad_outputs=torch.ones_like(out),
        create_graph=True,
        retain_graph=True,
    )
    grads = grads.view(real.shape[0], -1)
    penalty = (((grads + 1e-16).norm(2, dim=1) - constant) ** 2).mean() * lambda_gp
    return penalty, grads
