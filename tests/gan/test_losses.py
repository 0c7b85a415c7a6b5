"""GANLoss and gradient_penalty against values computed by hand."""

import math

import pytest
import torch
from torch import nn

from vision_plugins.gan import GANLoss, gradient_penalty

PRED = [0.0, 2.0, -1.0, 0.5]


def _pred():
    return torch.tensor(PRED).view(1, 1, 2, 2)


def test_vanilla_is_bce_with_logits_against_filled_targets():
    loss = GANLoss("vanilla")
    # BCE(x, 1) = log(1 + e^-x), BCE(x, 0) = log(1 + e^x), averaged over the patch map
    real = sum(math.log1p(math.exp(-x)) for x in PRED) / 4
    fake = sum(math.log1p(math.exp(x)) for x in PRED) / 4
    assert loss(_pred(), True).item() == pytest.approx(real, rel=1e-6)
    assert loss(_pred(), False).item() == pytest.approx(fake, rel=1e-6)
    # custom labels: BCE(x, t) = log(1 + e^x) - t x
    smooth = GANLoss("vanilla", real_label=0.9)
    want = sum(math.log1p(math.exp(x)) - 0.9 * x for x in PRED) / 4
    assert smooth(_pred(), True).item() == pytest.approx(want, rel=1e-6)


def test_lsgan_is_mse_against_filled_targets():
    loss = GANLoss("lsgan")
    assert loss(_pred(), True).item() == pytest.approx((1 + 1 + 4 + 0.25) / 4)
    assert loss(_pred(), False).item() == pytest.approx((0 + 4 + 1 + 0.25) / 4)
    assert GANLoss("lsgan", 0.5, -0.5)(_pred(), False).item() == pytest.approx(
        (0.25 + 6.25 + 0.25 + 1) / 4
    )


def test_wgangp_is_signed_mean():
    loss = GANLoss("wgangp")
    assert loss(_pred(), True).item() == pytest.approx(-0.375)
    assert loss(_pred(), False).item() == pytest.approx(0.375)


def test_gan_loss_gradients_shapes_and_state():
    pred = torch.tensor([[0.3, -0.2]], dtype=torch.float64, requires_grad=True)
    GANLoss("lsgan")(pred, True).backward()  # d/dx mean((x - 1)^2) = (x - 1)
    torch.testing.assert_close(pred.grad, (pred.detach() - 1))
    assert GANLoss("vanilla")(pred, False).dtype == torch.float64
    assert GANLoss("lsgan").state_dict() == {}  # labels are not buffers: nothing to checkpoint
    with pytest.raises(ValueError, match="ragan"):
        GANLoss("ragan")


class _Linear(nn.Module):
    """D(x) = sum(w * x) + b per sample: its input gradient is w for every sample."""

    def __init__(self, shape):
        super().__init__()
        self.w = nn.Parameter(torch.arange(1.0, 1.0 + math.prod(shape)).view(shape) / 10)
        self.b = nn.Parameter(torch.tensor(0.5))
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return (x * self.w).flatten(1).sum(1, keepdim=True) + self.b


def test_gradient_penalty_linear_discriminator():
    real, fake = torch.ones(3, 2, 2, 2), -torch.ones(3, 2, 2, 2)
    D = _Linear((2, 2, 2))
    norm = math.sqrt(sum((i / 10) ** 2 for i in range(1, 9)))  # ||w||_2
    for type_ in ("real", "fake", "mixed"):
        torch.manual_seed(7)
        penalty, grads = gradient_penalty(D, real, fake, type_, constant=1.0, lambda_gp=10.0)
        torch.testing.assert_close(grads, D.w.detach().flatten().expand(3, 8))
        assert penalty.item() == pytest.approx(10.0 * (norm - 1.0) ** 2, rel=1e-5)
    # the mixed points: a * real + (1 - a) * fake with a = torch.rand(B, 1) drawn first
    torch.manual_seed(7)
    a = torch.rand(3, 1).view(3, 1, 1, 1)
    torch.testing.assert_close(D.seen[-1], a * real + (1 - a) * fake)
    torch.testing.assert_close(D.seen[0], real)
    torch.testing.assert_close(D.seen[1], fake)
    assert not real.requires_grad and not fake.requires_grad  # inputs are not flagged in place
    penalty, _ = gradient_penalty(D, real, fake, "real", constant=2.0, lambda_gp=3.0)
    assert penalty.item() == pytest.approx(3.0 * (norm - 2.0) ** 2, rel=1e-5)
    assert gradient_penalty(D, real, fake, lambda_gp=0.0) == (0.0, None)
    with pytest.raises(ValueError, match="mixed"):
        gradient_penalty(D, real, fake, "interpolated")


def test_gradient_penalty_backpropagates_into_discriminator():
    """D(x) = s * sum(x^2): gradients 2 s x; penalty = lam * mean_b (2 s ||x_b|| - c)^2, so
    d penalty / d s = lam * mean_b 2 (2 s ||x_b|| - c) * 2 ||x_b||."""

    class Quadratic(nn.Module):
        def __init__(self):
            super().__init__()
            self.s = nn.Parameter(torch.tensor(0.7, dtype=torch.float64))

        def forward(self, x):
            return self.s * (x**2).flatten(1).sum(1)

    D = Quadratic()
    x = torch.tensor([[3.0, 4.0], [1.0, 0.0]], dtype=torch.float64)
    penalty, grads = gradient_penalty(D, x, x, "real", constant=1.0, lambda_gp=2.0)
    torch.testing.assert_close(grads, 1.4 * x)
    n = torch.tensor([5.0, 1.0], dtype=torch.float64)
    assert penalty.item() == pytest.approx(2.0 * ((1.4 * n - 1) ** 2).mean().item())
    penalty.backward()
    assert D.s.grad.item() == pytest.approx(2.0 * (2 * (1.4 * n - 1) * 2 * n).mean().item())
