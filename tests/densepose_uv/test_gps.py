"""GPS on a toy chart against hand-computed values, and the per-pixel conversion."""

import math

import numpy as np
import pytest
import torch

from vision_plugins.densepose_uv.heads import DensePoseUVOutput
from vision_plugins.densepose_uv.results import densepose_masks, densepose_to_iuv
from vision_plugins.evaluation.densepose import PlanarChartGeodesics, gps_score


def _sheet(i, u, v):
    """Parts side by side on a line: part k covers x in [k - 1, k]; y = v."""
    return np.asarray(i) - 1 + np.asarray(u), np.asarray(v, dtype=float)


def test_gps_hand_values():
    geo = PlanarChartGeodesics(_sheet, kappa=np.array([0.0, 0.5, 1.0]))  # indexed by GT part
    # GT box (10, 20, 8, 8); points at image (12.5, 22.5), (16.5, 26.5), (9.0, 21.0)
    ann = {
        "bbox": [10.0, 20.0, 8.0, 8.0],
        "dp_x": [80.0, 208.0, -32.0],
        "dp_y": [80.0, 208.0, 32.0],
        "dp_I": [1, 2, 1],
        "dp_U": [0.25, 0.5, 0.5],
        "dp_V": [0.5, 0.5, 0.5],
    }
    iuv = np.zeros((3, 8, 8))  # prediction on the integer box (10, 20), 8x8
    iuv[:, 2, 2] = [1, 0.25, 0.5]  # exact -> 1
    iuv[:, 6, 6] = [1, 0.5, 0.1]  # GT (part 2: x 1.5, y .5) vs (x .5, y .1): g² = 1 + 0.16
    # third point lies left of the box -> 0
    expected = (1 + math.exp(-1.16 / (2 * 1.0**2)) + 0) / 3
    assert gps_score(ann, iuv, (10, 20), geo) == pytest.approx(expected)
    iuv[0, 6, 6] = 0  # predicted background -> 0
    assert gps_score(ann, iuv, (10, 20), geo) == pytest.approx(1 / 3)


def test_iuv_conversion_and_masks():
    coarse = torch.zeros(1, 2, 2, 2)
    coarse[0, 1, :, 1] = 5.0  # right column foreground
    fine = torch.zeros(1, 3, 2, 2)
    fine[0, 2] = 1.0  # part 2 everywhere
    u = torch.zeros(1, 3, 2, 2)
    u[0, 2] = 0.75
    v = torch.full((1, 3, 2, 2), 0.25)
    out = DensePoseUVOutput(coarse, fine, u, v)
    (iuv,) = densepose_to_iuv(out, torch.tensor([[1.0, 2.0, 3.0, 4.0]]))  # 2x2 integer box
    assert iuv.tolist() == [[[0, 2], [0, 2]], [[0, 0.75], [0, 0.75]], [[0, 0.25], [0, 0.25]]]
    masks = densepose_masks([iuv], torch.tensor([[1.0, 2.0, 3.0, 4.0]]), 5, 5)
    expected = torch.zeros(5, 5, dtype=torch.bool)
    expected[2:4, 2] = True
    assert torch.equal(masks[0], expected)
