"""Each YOLACT loss on a toy case checked by hand (official MultiBoxLoss definitions)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vision_plugins.yolact.losses import YolactLossConfig, YolactTargets, yolact_losses

# six priors on an 8x8 input: prior 0 = the GT box exactly, the others far from it
PRIORS = torch.tensor(
    [[0.25, 0.25, 0.5, 0.5], [0.8, 0.8, 0.2, 0.2], [0.8, 0.2, 0.2, 0.2],
     [0.2, 0.8, 0.2, 0.2], [0.5, 0.9, 0.2, 0.2], [0.9, 0.5, 0.2, 0.2]]
)  # fmt: skip


def _targets(crowd=None):
    masks = torch.zeros(1, 8, 8)
    masks[0, :4, :4] = 1  # the box [0, 0, 0.5, 0.5]
    return YolactTargets(
        boxes=torch.tensor([[0.0, 0.0, 0.5, 0.5]]), labels=torch.tensor([1]), masks=masks,
        crowd_boxes=crowd,
    )  # fmt: skip


class _ConstantIoU(nn.Module):
    def __init__(self, value):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(value))

    def forward(self, x):
        return self.w.expand(x.shape[0], 2)


def _run(cfg=YolactLossConfig(), conf=None, loc=None, proto=None, segm=None, maskiou=None,
         targets=None):  # fmt: skip
    loc = torch.zeros(1, 6, 4) if loc is None else loc
    conf = torch.zeros(1, 6, 3) if conf is None else conf
    coefs = torch.zeros(1, 6, 1)
    proto = torch.zeros(1, 4, 4, 1) if proto is None else proto
    segm = torch.zeros(1, 2, 2, 2) if segm is None else segm
    return yolact_losses(loc, conf, coefs, PRIORS, proto, segm, [targets or _targets()], cfg,
                         maskiou)  # fmt: skip


def test_box_loss_is_smooth_l1_times_1_5_per_positive():
    loc = torch.zeros(1, 6, 4)
    loc[0, 0] = torch.tensor([0.5, -2.0, 0.0, 0.0])  # prior 0 matches exactly: target 0
    loc[0, 1] = 10.0  # a negative: no box loss
    losses = _run(loc=loc)
    assert losses["loss_box"].item() == pytest.approx((0.5 * 0.25 + 1.5) * 1.5)


def test_class_loss_mines_the_three_hardest_negatives():
    conf = torch.zeros(1, 6, 3)
    conf[0, 0] = torch.tensor([0.0, 0.0, 1.0])  # the positive (label 1 -> logit index 2)
    # negatives ranked by logsumexp - background logit: priors 3 > 1 > 5 > 2 > 4
    conf[0, 1, 1] = 2.0
    conf[0, 2, 2] = 0.5
    conf[0, 3, 1] = 3.0
    conf[0, 4, 0] = 1.0
    conf[0, 5, 2] = 1.0
    losses = _run(conf=conf)
    rows = conf[0, [0, 3, 1, 5]]
    expected = F.cross_entropy(rows, torch.tensor([2, 0, 0, 0]), reduction="sum")
    assert losses["loss_cls"].item() == pytest.approx(expected.item(), rel=1e-6)
    # with NEGPOS_RATIO 1 only prior 3 joins the positive
    losses = _run(YolactLossConfig(negpos_ratio=1), conf=conf)
    expected = F.cross_entropy(conf[0, [0, 3]], torch.tensor([2, 0]), reduction="sum")
    assert losses["loss_cls"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_mask_loss_bce_in_the_padded_gt_box_over_its_area():
    # prototypes 0 -> every predicted pixel 0.5; GT box = 2x2 prototype pixels, cropped with one
    # pixel of padding -> a 3x3 window of BCE(0.5, t) = log 2; outside, 0 vs target 0
    losses = _run()
    assert losses["loss_mask"].item() == pytest.approx(9 * math.log(2) / 4 * 6.125, rel=1e-6)
    # a prototype that is very negative where the GT is 1: BCE clamps log at -100 (official)
    proto = torch.zeros(1, 4, 4, 1)
    proto[0, 0, 0, 0] = -1e4
    coefs = torch.ones(1, 6, 1)
    out = yolact_losses(torch.zeros(1, 6, 4), torch.zeros(1, 6, 3), coefs, PRIORS, proto,
                        None, [_targets()], YolactLossConfig())  # fmt: skip
    assert out["loss_mask"].item() == pytest.approx((100 + 8 * math.log(2)) / 4 * 6.125, rel=1e-5)


def test_semantic_loss_per_class_maps_over_head_area():
    segm = torch.full((1, 2, 2, 2), 2.0)
    losses = _run(segm=segm)
    # the GT mask (top-left 4x4 of 8x8) downsampled to 2x2 covers one pixel of class 1
    expected = (math.log1p(math.exp(-2)) + 7 * math.log1p(math.exp(2))) / 4
    assert losses["loss_semseg"].item() == pytest.approx(expected, rel=1e-6)


def test_maskiou_loss_against_the_binarised_prediction_iou():
    cfg = YolactLossConfig(maskiou_discard_area=1.0)
    losses = _run(cfg, maskiou=_ConstantIoU(0.3))
    # predicted masks are 0.5 -> binarised empty -> IoU 0; smooth-L1(0.3, 0) x 25
    assert losses["loss_maskiou"].item() == pytest.approx(0.5 * 0.09 * 25, rel=1e-6)
    # GT masks not larger than DISCARD_AREA (4 prototype pixels here) are not scored
    losses = _run(YolactLossConfig(maskiou_discard_area=4.0), maskiou=_ConstantIoU(0.3))
    assert losses["loss_maskiou"].item() == 0.0
    losses["loss_maskiou"].backward()  # still connected to the network (DDP)


def test_losses_are_divided_by_the_number_of_positives():
    one = _run(loc=torch.ones(1, 6, 4))
    # a second GT identical to the first adds its own forced prior (prior 1) -> 2 positives
    t = _targets()
    t = YolactTargets(t.boxes.repeat(2, 1), t.labels.repeat(2), t.masks.repeat(2, 1, 1))
    two = _run(loc=torch.ones(1, 6, 4), targets=t)
    assert two["loss_mask"].item() == pytest.approx(one["loss_mask"].item(), rel=1e-5)


def test_no_positive_and_crowd_only_images_give_finite_losses():
    empty = YolactTargets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long),
                          torch.zeros(0, 8, 8))  # fmt: skip
    crowd = YolactTargets(empty.boxes, empty.labels, empty.masks,
                          crowd_boxes=torch.tensor([[0.0, 0.0, 0.5, 0.5]]))  # fmt: skip
    for t in (empty, crowd):
        conf = torch.randn(1, 6, 3, requires_grad=True)
        losses = _run(conf=conf, targets=t)
        assert all(torch.isfinite(v) for v in losses.values())
        assert losses["loss_cls"].item() == 0.0  # no positive -> no mined negative (3 x 0)
        sum(losses.values()).backward()
