"""Keypoint-detector heatmap ops: radius formulas (dossier values), Gaussian drawing, focal loss
on toy cases, peak extraction."""

import math

import numpy as np
import pytest
import torch

from vision_plugins.layers.center_heatmaps import (
    ae_pull_push_loss,
    bottom_pool,
    draw_gaussian,
    gaussian_radius,
    heatmap_focal_loss,
    left_pool,
    offset_smooth_l1_loss,
    right_pool,
    top_pool,
    topk_peaks,
)


def test_gaussian_radius_fixed_and_legacy():
    # the dossier's 50 x 100 box
    assert gaussian_radius(50, 100, 0.3) == pytest.approx(14.45, abs=5e-3)
    assert gaussian_radius(50, 100, 0.7) == pytest.approx(5.39, abs=5e-3)
    assert gaussian_radius(50, 100, 0.7, legacy=True) == pytest.approx(18.39, abs=5e-3)


def test_draw_gaussian_peak_sigma_and_borders():
    hm = np.zeros((10, 12))
    draw_gaussian(hm, (4, 5), 2)  # diameter 5, sigma 5/6
    assert hm[5, 4] == 1.0 and hm.argmax() == 5 * 12 + 4
    assert hm[5, 5] == pytest.approx(math.exp(-1 / (2 * (5 / 6) ** 2)))
    assert hm[5, 7] == 0 and hm[2, 4] == 0  # radius 2
    draw_gaussian(hm, (0, 0), 3)  # clipped at the corner, max-combined
    assert hm[0, 0] == 1.0 and hm[5, 4] == 1.0


def test_focal_loss_toy_cases():
    gt = torch.zeros(1, 1, 2, 2)
    gt[0, 0, 0, 0] = 1.0
    gt[0, 0, 0, 1] = 0.5
    pred = torch.tensor([[[[0.8, 0.3], [0.1, 0.2]]]])
    pos = math.log(0.8) * 0.2**2
    neg = math.log(0.7) * 0.3**2 * 0.5**4 + math.log(0.9) * 0.1**2 + math.log(0.8) * 0.2**2
    assert heatmap_focal_loss(pred, gt).item() == pytest.approx(-(pos + neg), rel=1e-5)
    # no object: the negative term alone (not divided)
    empty = torch.zeros(1, 1, 2, 2)
    assert heatmap_focal_loss(pred, empty).item() == pytest.approx(
        -sum(math.log(1 - p) * p**2 for p in (0.8, 0.3, 0.1, 0.2)), rel=1e-5
    )


def test_topk_peaks_suppresses_non_maxima():
    heat = torch.zeros(1, 2, 6, 6)
    heat[0, 0, 2, 3] = 0.9
    heat[0, 0, 2, 4] = 0.8  # next to a higher peak: suppressed
    heat[0, 1, 5, 0] = 0.7
    scores, classes, ys, xs = topk_peaks(heat, 2)
    assert scores[0].tolist() == pytest.approx([0.9, 0.7])
    assert classes[0].tolist() == [0, 1] and ys[0].tolist() == [2, 5] and xs[0].tolist() == [3, 0]


def _brute(x, direction):
    out = torch.empty_like(x)
    h, w = x.shape[-2:]
    for i in range(h):
        for j in range(w):
            region = {
                "top": x[..., i:, j], "bottom": x[..., : i + 1, j],
                "left": x[..., i, j:], "right": x[..., i, : j + 1],
            }[direction]  # fmt: skip
            out[..., i, j] = region.max(-1)[0]
    return out


@pytest.mark.parametrize("direction", ["top", "bottom", "left", "right"])
def test_corner_pools_vs_brute_force_and_gradcheck(direction):
    pool = {"top": top_pool, "bottom": bottom_pool, "left": left_pool, "right": right_pool}
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 7, generator=g)
    torch.testing.assert_close(pool[direction](x), _brute(x, direction), rtol=0, atol=0)
    xd = torch.randn(1, 2, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(pool[direction], (xd,))


def test_draw_gaussian_sigma_div():
    hm = np.zeros((9, 9))
    draw_gaussian(hm, (4, 4), 2, sigma_div=5)  # CenterNet-Triplet centres: sigma = 5 / 5
    assert hm[4, 5] == pytest.approx(math.exp(-0.5))


def test_ae_loss_two_objects_by_hand():
    tl = torch.tensor([[0.0, 1.0, 9.0]])
    br = torch.tensor([[0.4, 1.2, 9.0]])
    mask = torch.tensor([[1, 1, 0]], dtype=torch.uint8)  # the third slot is padding
    pull, push = ae_pull_push_loss(tl, br, mask)
    # means 0.2, 1.1; pull = (0.2² + 0.2² + 0.1² + 0.1²) / N
    assert pull.item() == pytest.approx((0.04 * 2 + 0.01 * 2) / (2 + 1e-4), rel=1e-5)
    # push: relu(1 - 0.9) for both ordered pairs, / N(N-1); the diagonal cancels up to epsilons
    diag = 2 * (1 - 1 / (2 + 1e-4)) / (2 + 1e-4)
    off = 2 * (0.1 - 1 / (2 + 1e-4)) / (2 + 1e-4)
    assert push.item() == pytest.approx(diag + off, rel=1e-5)
    assert push.item() == pytest.approx(0.1, abs=1e-3)
    # bool and uint8 masks agree (the official loss needs uint8; ours takes either)
    assert ae_pull_push_loss(tl, br, mask.bool())[1].item() == pytest.approx(push.item())


def test_ae_loss_single_object_and_empty_images():
    tl = torch.tensor([[0.3, 0.0], [0.0, 0.0]], requires_grad=True)
    br = torch.tensor([[0.5, 0.0], [0.0, 0.0]], requires_grad=True)
    mask = torch.tensor([[1, 0], [0, 0]], dtype=torch.uint8)  # one object; an empty image
    pull, push = ae_pull_push_loss(tl, br, mask)
    assert pull.item() == pytest.approx(2 * 0.1**2 / (1 + 1e-4), rel=1e-5)
    # the official epsilon artefact: (1 - 1 / (1 + 1e-4)) / 1e-4 ≈ 1, constant
    assert push.item() == pytest.approx((1 - 1 / (1 + 1e-4)) / 1e-4, rel=1e-3)
    (pull + push).backward()
    # d/dt0 [(t0 - m)² + (t1 - m)²] = 2 (t0 - m): pull only, push has no gradient
    assert tl.grad[0, 0].item() == pytest.approx(-0.2 / (1 + 1e-4), rel=1e-4)
    assert tl.grad[1].abs().sum() == 0
    none = torch.zeros(1, 1, dtype=torch.uint8)
    p, q = ae_pull_push_loss(torch.zeros(1, 1), torch.zeros(1, 1), none)
    assert p.item() == 0 and q.item() == 0


def test_offset_smooth_l1_by_hand():
    pred = torch.tensor([[[0.5, 0.2], [3.0, 0.0]], [[9.0, 9.0], [0.0, 0.0]]])
    gt = torch.tensor([[[0.0, 0.2], [0.5, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    mask = torch.tensor([[1, 1], [0, 0]])
    # 0.5 * 0.5² + (2.5 - 0.5), over 2 objects
    expected = (0.125 + 2.0) / (2 + 1e-4)
    assert offset_smooth_l1_loss(pred, gt, mask).item() == pytest.approx(expected, rel=1e-6)
