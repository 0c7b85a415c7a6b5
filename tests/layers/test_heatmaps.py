"""Heatmap encode/decode ops: hand-computed values, borders, ties, round trips."""

import math

import numpy as np
import pytest
import torch

from vision_plugins.layers import (
    decode_heatmaps_quarter_offset,
    decode_heatmaps_taylor,
    flip_average_heatmaps,
    heatmap_nms_peaks,
    render_gaussian_heatmaps,
)


def _one(hm):
    """A single (1, 1, H, W) map from a nested list."""
    return torch.tensor(hm, dtype=torch.float32)[None, None]


def _reference_parse(hm):
    """HeatmapParser.parse restated per map in plain Python loops (README_shg.md), for (K, H, W)."""
    k, h, w = hm.shape
    out = np.zeros((k, 2)), np.zeros(k, np.float32)
    for j in range(k):
        m = hm[j]
        nms = np.zeros_like(m)
        for y in range(h):
            for x in range(w):
                win = m[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2]
                nms[y, x] = m[y, x] if m[y, x] == win.max() else 0
        ind = int(np.argmax(nms.reshape(-1)))
        x, y, peak = ind % w, ind // w, nms.reshape(-1)[ind]
        xy = np.array([x, y], float)
        if peak > 0:
            xy[0] += 0.25 if m[y, min(x + 1, w - 1)] > m[y, max(x - 1, 0)] else -0.25
            xy[1] += 0.25 if m[min(y + 1, h - 1), x] > m[max(y - 1, 0), x] else -0.25
            xy += 0.5
        out[0][j], out[1][j] = xy, peak
    return out


def test_render_values_and_pixel_centre_convention():
    hm = render_gaussian_heatmaps(
        torch.tensor([[[2.5, 1.5]]]), torch.tensor([[True]]), (5, 6), sigma=1.0
    )
    assert hm.shape == (1, 1, 5, 6)
    # pixel (row 1, col 2) has its centre at (2.5, 1.5): the peak
    assert hm[0, 0, 1, 2] == 1.0
    torch.testing.assert_close(hm[0, 0, 1, 3], torch.tensor(math.exp(-0.5)))
    torch.testing.assert_close(hm[0, 0, 3, 0], torch.tensor(math.exp(-4.0)))
    torch.testing.assert_close(hm[0, 0, 4, 5], torch.tensor(math.exp(-(9 + 9) / 2)))
    # a point anywhere inside pixel (row 3, col 1) peaks there
    hm = render_gaussian_heatmaps(torch.tensor([[[1.9, 3.1]]]), torch.ones(1, 1, dtype=bool), 5, 1)
    assert hm[0, 0].argmax().item() == 3 * 5 + 1


def test_render_batched_invisible_and_official_9x9_kernel():
    points = torch.tensor([[[10.7, 20.2], [3.0, 3.0]], [[0.0, 0.0], [40.5, 5.5]]])
    visible = torch.tensor([[True, False], [True, True]])
    hm = render_gaussian_heatmaps(torch.floor(points) + 0.5, visible, 64, 1.0, radius=4)
    assert hm.shape == (2, 2, 64, 64)
    assert hm[0, 1].abs().sum() == 0
    nz = hm[0, 0].nonzero()
    assert (nz[:, 0].min(), nz[:, 0].max(), nz[:, 1].min(), nz[:, 1].max()) == (16, 24, 6, 14)
    yy, xx = torch.meshgrid(torch.arange(-4, 5.0), torch.arange(-4, 5.0), indexing="ij")
    torch.testing.assert_close(hm[0, 0, 16:25, 6:15], torch.exp(-(xx**2 + yy**2) / 2))
    # clipped at the top-left border: rows/cols 0..4 only
    assert hm[1, 0].nonzero().max().item() == 4 and hm[1, 0, 0, 0] == 1.0
    assert hm[1, 1, 5, 40] == 1.0 and hm[1, 1, 5, 45] == 0 and hm[1, 1, 5, 44] > 0


def test_nms_peaks_hand_computed_row_major_first():
    hm = _one(
        [
            [0.0, 0.1, 0.0, 0.9, 0.2],
            [0.3, 0.9, 0.0, 0.1, 0.0],
            [0.0, 0.2, 0.5, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 0.8],
            [0.0, 0.0, 0.0, 0.7, 0.1],
        ]
    )
    x, y, peak = heatmap_nms_peaks(hm)
    # two non-adjacent 0.9 peaks survive NMS; the row-major first (row 0, col 3) wins
    assert (x.item(), y.item(), peak.item()) == (3, 0, pytest.approx(0.9))
    # a suppressed non-maximum is never returned: 0.7 beside 0.8
    hm[0, 0, :2] = 0
    x, y, peak = heatmap_nms_peaks(hm)
    assert (x.item(), y.item()) == (4, 3) and peak.item() == pytest.approx(0.8)


def test_quarter_offset_hand_computed():
    hm = _one(
        [
            [0.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.3, 0.0, 0.0],
            [0.0, 0.2, 1.0, 0.5, 0.0],
            [0.0, 0.0, 0.1, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 0.0],
        ]
    )
    coords, scores = decode_heatmaps_quarter_offset(hm)
    # right (0.5) > left (0.2): +0.25; down (0.1) < up (0.3): -0.25; then +0.5
    assert coords[0, 0].tolist() == [2.75, 2.25] and scores.item() == 1.0


def test_quarter_offset_tie_gives_minus_quarter():
    hm = _one([[0, 0, 0], [0.4, 1.0, 0.4], [0, 0, 0]])
    coords, _ = decode_heatmaps_quarter_offset(hm)
    assert coords[0, 0].tolist() == [1.25, 1.25]


@pytest.mark.parametrize(
    "row,col,expected",
    [(0, 0, [0.25, 0.25]), (4, 4, [4.75, 4.75]), (0, 4, [4.75, 0.25]), (4, 0, [0.25, 4.75])],
)
def test_quarter_offset_borders_use_the_peak_as_clamped_neighbour(row, col, expected):
    hm = torch.zeros(1, 1, 5, 5)
    hm[0, 0, row, col] = 1.0
    hm[0, 0, row, 2] += 0.1  # lower neighbours inside the map
    hm[0, 0, 2, col] += 0.1
    coords, _ = decode_heatmaps_quarter_offset(hm)
    assert coords[0, 0].tolist() == expected


def test_quarter_offset_no_offset_when_peak_not_positive():
    yy, xx = torch.meshgrid(torch.arange(5.0), torch.arange(5.0), indexing="ij")
    neg = (-0.05 - 0.1 * ((yy - 2).abs() + (xx - 2).abs()))[None, None]  # one maximum, < 0
    zeros = torch.zeros(1, 1, 5, 5)
    coords, scores = decode_heatmaps_quarter_offset(torch.cat([neg, zeros], 1))
    # NMS leaves 0 everywhere but the (negative) peak: top-1 is the first 0-valued pixel
    assert coords[0].tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert scores[0].tolist() == [0.0, 0.0]


def test_quarter_offset_matches_loop_restatement_on_random_maps():
    g = torch.Generator().manual_seed(0)
    hm = torch.randn(3, 4, 9, 7, generator=g)
    hm[1, 2] = -hm[1, 2].abs()  # an all-negative map
    hm[2, 1, :, 6] = 5.0  # a plateau on the border column
    coords, scores = decode_heatmaps_quarter_offset(hm)
    for n in range(3):
        ref_xy, ref_peak = _reference_parse(hm[n].numpy())
        np.testing.assert_array_equal(coords[n].numpy(), ref_xy)
        np.testing.assert_array_equal(scores[n].numpy(), ref_peak)


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_render_then_quarter_decode_within_quantisation(sigma):
    g = torch.Generator().manual_seed(1)
    points = torch.rand(4, 16, 2, generator=g, dtype=torch.float64) * 60 + 2
    frac = points - points.floor()
    points = torch.where((frac - 0.5).abs() < 1e-3, points + 0.01, points)
    hm = render_gaussian_heatmaps(points, torch.ones(4, 16, dtype=bool), 64, sigma)
    coords, scores = decode_heatmaps_quarter_offset(hm)
    frac = points - points.floor()
    expected = points.floor() + torch.where(frac > 0.5, 0.75, 0.25)
    torch.testing.assert_close(coords, expected, rtol=0, atol=0)
    assert (coords - points).abs().max() <= 0.25
    assert (scores > 0.6).all()


def test_taylor_decode_sub_pixel_on_gaussian():
    points = torch.tensor([[[20.3, 30.7], [5.55, 50.05], [0.3, 10.2]]], dtype=torch.float64)
    hm = render_gaussian_heatmaps(points, torch.ones(1, 3, dtype=bool), 64, 2.0)
    coords, scores = decode_heatmaps_taylor(hm)
    torch.testing.assert_close(coords[0, :2], points[0, :2], rtol=0, atol=1e-9)
    # argmax in column 0: no central difference along x, the pixel centre is returned
    assert coords[0, 2].tolist() == [0.5, 10.5]
    assert scores.min() > 0.9
    coords32, _ = decode_heatmaps_taylor(hm.float())
    assert (coords32[0, :2].double() - points[0, :2]).abs().max() < 1e-3


def test_taylor_decode_no_offset_on_flat_or_saddle():
    coords, _ = decode_heatmaps_taylor(torch.ones(1, 1, 5, 5))
    assert coords[0, 0].tolist() == [0.5, 0.5]  # flat: first maximum, no offset
    # a diagonal ridge: H is indefinite (det < 0), so no Newton step
    saddle = torch.full((1, 1, 5, 5), 0.01)
    saddle[0, 0, 1:4, 1:4] = torch.tensor([[0.99, 0.9, 0.1], [0.9, 1.0, 0.8], [0.1, 0.9, 0.99]])
    coords, scores = decode_heatmaps_taylor(saddle)
    assert coords[0, 0].tolist() == [2.5, 2.5] and scores.item() == 1.0


def test_flip_average_pairs_mirror_and_clip():
    g = torch.Generator().manual_seed(2)
    hm = torch.rand(2, 3, 4, 5, generator=g)
    hf = torch.rand(2, 3, 4, 5, generator=g) * 3
    pairs = [2, 1, 0]
    out = flip_average_heatmaps(hm, hf, pairs, clip=None)
    for j, p in enumerate(pairs):
        for col in range(5):
            torch.testing.assert_close(
                out[:, j, :, col], (hm[:, j, :, col] + hf[:, p, :, 4 - col]) / 2, rtol=0, atol=0
            )
    clipped = flip_average_heatmaps(hm, hf, torch.tensor(pairs))
    assert clipped.max() == 1.0 and (out > 1).any()
    torch.testing.assert_close(clipped, out.clamp(max=1.0), rtol=0, atol=0)
