"""Keypoint-detector heatmap ops: radius formulas (dossier values), Gaussian drawing, focal loss
on toy cases, peak extraction."""

import math

import numpy as np
import pytest
import torch

from vision_plugins.layers.center_heatmaps import (
    bottom_pool,
    draw_gaussian,
    gaussian_radius,
    heatmap_focal_loss,
    left_pool,
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
