"""DensePose chart losses: point interpolation, segmentation resampling and each loss on toy
batches against hand values."""

import math

import pytest
import torch
import torch.nn.functional as F
from detectron2.structures import Boxes, Instances

from vision_plugins.data.densepose import DensePoseList, DensePoseUVTarget
from vision_plugins.densepose_uv.heads import DensePoseUVOutput
from vision_plugins.densepose_uv.losses import (
    densepose_uv_losses,
    point_interpolation,
    resample_segm,
)

T = torch.tensor


def _interp(x, y, gt, est, size):
    n = len(x)
    return point_interpolation(
        T(x, dtype=torch.float32),
        T(y, dtype=torch.float32),
        T([gt] * n, dtype=torch.float32),
        T([est] * n, dtype=torch.float32),
        size,
    )


def test_points_move_from_gt_box_to_proposal():
    # GT box xywh (4, 8, 8, 8), proposal (2, 6, 8, 8), 4x4 grid (2 px per cell)
    x_lo, x_hi, y_lo, y_hi, w, valid = _interp(
        [128.0, 32.0, 0.0, 64.0], [64.0, 200.0, 0.0, 96.0], (4, 8, 8, 8), (2, 6, 8, 8), 4
    )
    # point 0: image (8, 10) -> grid (3.0, 2.0); point 1: image y 14.25, past the proposal's
    # bottom (6 + 8) -> invalid; point 2: image (4, 8) -> grid (1, 1); point 3: (6, 11) -> (2, 2.5)
    assert valid.tolist() == [True, False, True, True]
    assert x_lo.tolist()[0::2] == [3, 1] and x_hi.tolist()[0::2] == [3, 2]
    assert y_lo.tolist()[0::2] == [2, 1] and y_hi.tolist()[0::2] == [3, 2]
    assert w[0].tolist() == [1.0, 0.0, 0.0, 0.0]  # at a cell corner, clamped at the border
    assert torch.allclose(w[3], T([0.5, 0.0, 0.5, 0.0]))  # x = 2 exactly, y = 2.5
    # a point left of the proposal is dropped
    *_, valid = _interp([0.0], [128.0], (4, 8, 8, 8), (6, 8, 8, 8), 4)
    assert valid.tolist() == [False]


def test_bilinear_taps_reproduce_a_linear_map():
    size = 8
    z = (10 * torch.arange(size)[:, None] + torch.arange(size)[None, :]).float()
    x = torch.rand(50) * 256
    y = torch.rand(50) * 256
    gt, est = (3.0, 5.0, 20.0, 30.0), (2.0, 4.0, 24.0, 34.0)
    x_lo, x_hi, y_lo, y_hi, w, valid = _interp(x.tolist(), y.tolist(), gt, est, size)
    values = (
        w[:, 0] * z[y_lo, x_lo]
        + w[:, 1] * z[y_lo, x_hi]
        + w[:, 2] * z[y_hi, x_lo]
        + w[:, 3] * z[y_hi, x_hi]
    )
    gx = (gt[0] + x * gt[2] / 256 - est[0]) * size / est[2]
    gy = (gt[1] + y * gt[3] / 256 - est[1]) * size / est[3]
    expected = 10 * gy.clamp(max=size - 1) + gx.clamp(max=size - 1)
    assert torch.allclose(values[valid], expected[valid], atol=1e-4)


def test_segm_resampling_from_gt_box_to_proposal():
    segm = torch.zeros(1, 256, 256, dtype=torch.long)
    segm[0, :, 128:] = 2  # right half of the GT box is part 2
    segm[0, :, :128] = 1
    # identical boxes: cell k samples at x0 + k w / S -> cells 0, 1 left, 2, 3 right
    out = resample_segm(segm, T([[0.0, 0.0, 8.0, 8.0]]), T([[0.0, 0.0, 8.0, 8.0]]), 4)
    assert out[0].tolist() == [[1, 1, 2, 2]] * 4
    # a proposal twice as large: cells sample at 0, 4, 8, 12 px; 8 is the GT box edge (still
    # inside with align_corners=True, the last GT cell), 12 is outside -> 0
    out = resample_segm(segm, T([[0.0, 0.0, 8.0, 8.0]]), T([[0.0, 0.0, 16.0, 16.0]]), 4)
    assert out[0].tolist() == [[1, 2, 2, 0]] * 3 + [[0, 0, 0, 0]]


def _proposal(target, proposal_box, gt_box):
    p = Instances((64, 64))
    p.proposal_boxes = Boxes(T([proposal_box]))
    p.gt_boxes = Boxes(T([gt_box]))
    p.gt_classes = T([0])
    p.gt_densepose = DensePoseList([target])
    return p


def _target():
    segm = torch.zeros(256, 256, dtype=torch.long)
    segm[:128] = 1
    segm[128:] = 2
    return DensePoseUVTarget(
        x=T([64.0, 192.0, 128.0]),
        y=T([64.0, 64.0, 192.0]),
        i=T([1, 2, 3]),
        u=T([0.2, 0.9, 0.5]),
        v=T([0.4, 0.1, 3.0]),  # |0.5 - 3.0| = 2.5 > 1: the linear part of smooth-L1
        segm=segm,
    )


def test_each_loss_against_hand_values():
    size, patches = 8, 4
    out = DensePoseUVOutput(
        coarse_segm=torch.zeros(1, 3, size, size, requires_grad=True),
        fine_segm=torch.zeros(1, patches + 1, size, size, requires_grad=True),
        u=torch.full((1, patches + 1, size, size), 0.5, requires_grad=True),
        v=torch.full((1, patches + 1, size, size), 0.5, requires_grad=True),
    )
    box = [10.0, 10.0, 42.0, 42.0]
    losses = densepose_uv_losses(out, [_proposal(_target(), box, box)], 2.0, 0.3, 0.1)
    assert losses["loss_densepose_I"].item() == pytest.approx(0.3 * math.log(5))
    assert losses["loss_densepose_S"].item() == pytest.approx(2.0 * math.log(3))
    # smooth-L1 sum: U: 0.5 * (0.3² + 0.4² + 0²); V: 0.5 * (0.1² + 0.4²) + (2.5 - 0.5)
    assert losses["loss_densepose_U"].item() == pytest.approx(0.1 * 0.5 * (0.09 + 0.16), abs=1e-6)
    assert losses["loss_densepose_V"].item() == pytest.approx(0.1 * (0.5 * 0.17 + 2.0), abs=1e-6)
    sum(losses.values()).backward()
    # U/V gradients land only in the GT part's channel
    assert out.u.grad[0, 0].abs().sum() == 0 and out.u.grad[0, 4].abs().sum() == 0
    assert out.u.grad[0, 1].abs().sum() > 0


def test_fine_and_coarse_losses_follow_the_logits():
    size = 8
    fine = torch.zeros(1, 5, size, size)
    fine[0, 1] = 2.0  # part 1 favoured everywhere
    coarse = torch.zeros(1, 3, size, size)
    coarse[0, 1, : size // 2] = 4.0  # top half: coarse part 1 (matches the GT)
    out = DensePoseUVOutput(
        coarse, fine, torch.zeros(1, 5, size, size), torch.zeros(1, 5, size, size)
    )
    box = [0.0, 0.0, 32.0, 32.0]
    losses = densepose_uv_losses(out, [_proposal(_target(), box, box)], 2.0, 0.3, 0.1)
    logits = torch.zeros(3, 5)
    logits[:, 1] = 2.0
    expected_i = F.cross_entropy(logits, T([1, 2, 3]))
    assert losses["loss_densepose_I"].item() == pytest.approx(0.3 * expected_i.item(), rel=1e-5)
    top = F.cross_entropy(T([[0.0, 4.0, 0.0]]), T([1])).item()
    bottom = math.log(3)
    assert losses["loss_densepose_S"].item() == pytest.approx(2.0 * (top + bottom) / 2, rel=1e-5)


def test_no_densepose_data_gives_zero_losses_with_a_graph():
    size = 8
    out = DensePoseUVOutput(
        *(torch.randn(0, c, size, size, requires_grad=True) for c in (3, 5, 5, 5))
    )
    losses = densepose_uv_losses(out, [], 2.0, 0.3, 0.1)
    assert set(losses) == {
        "loss_densepose_I",
        "loss_densepose_U",
        "loss_densepose_V",
        "loss_densepose_S",
    }
    for v in losses.values():
        assert v.item() == 0 and v.requires_grad
    sum(losses.values()).backward()


def test_losses_equal_the_upstream_values_on_a_fixed_batch():
    """Reference values of detectron2's DensePose ``DensePoseChartLoss`` (legacy config) for this
    batch: one 15-channel proposal, five points, outputs drawn from ``manual_seed(0)``; recorded
    by running the upstream project (see projects/DensePose/README.md)."""
    g = torch.Generator().manual_seed(0)
    segm = torch.zeros(256, 256, dtype=torch.long)
    segm[64:192, 32:128] = 1
    segm[64:192, 128:224] = 2
    segm[192:, :] = 9
    target = DensePoseUVTarget(
        x=T([10.0, 100.0, 200.0, 250.0, 128.0]),
        y=T([20.0, 120.0, 180.0, 5.0, 255.0]),
        i=T([1, 2, 3, 24, 10]),
        u=T([0.1, 0.5, 0.9, 0.3, 0.7]),
        v=T([0.2, 0.4, 0.6, 0.8, 0.95]),
        segm=segm,
    )
    size = 56
    out = DensePoseUVOutput(
        coarse_segm=torch.randn(1, 15, size, size, generator=g),
        fine_segm=torch.randn(1, 25, size, size, generator=g),
        u=torch.rand(1, 25, size, size, generator=g),
        v=torch.rand(1, 25, size, size, generator=g),
    )
    gt, proposal = [100.0, 50.0, 300.0, 450.0], [110.0, 40.0, 290.0, 430.0]
    losses = densepose_uv_losses(out, [_proposal(target, proposal, gt)], 2.0, 0.3, 0.1)
    expected = {"U": 0.010954, "V": 0.001933, "I": 0.908939, "S": 6.236582}
    for k, v in expected.items():
        assert losses[f"loss_densepose_{k}"].item() == pytest.approx(v, abs=2e-6), k
    x_lo, x_hi, y_lo, y_hi, w, valid = _interp(
        target.x.tolist(), target.y.tolist(), (100, 50, 200, 400), (110, 40, 180, 390), size
    )
    assert valid.tolist() == [False, True, True, False, False]
    assert x_lo.tolist() == [0, 21, 45, 55, 28] and y_lo.tolist() == [5, 28, 41, 2, 55]
    assert w[1, 0].item() == pytest.approx(0.51638, abs=1e-5)
