"""YOLACT anchors, box coding, matching, Fast NMS and crop against hand values and references."""

import math

import numpy as np
import pytest
import torch
from detectron2.layers import ShapeSpec

from vision_plugins.engine import setup_cfg
from vision_plugins.yolact import YolactAnchorGenerator, build_yolact_resnet_fpn_backbone
from vision_plugins.yolact.box_ops import (
    batched_cross_class_fast_nms,
    batched_fast_nms,
    box_iou,
    canonical_order,
    crop_masks,
    cross_class_fast_nms,
    decode_boxes,
    encode_boxes,
    fast_nms,
    match_anchors,
    point_form,
    select_candidates,
    upsample_masks_in_boxes,
)
from vision_plugins.yolact.meta_arch import YOLACT


def _feats(sizes):
    return [torch.zeros(1, 1, s, s) for s in sizes]


def test_fpn_sizes_and_anchor_count_at_550():
    cfg = setup_cfg("configs/YOLACT/yolact_R_101_FPN_550_coco.yaml", [])
    with torch.device("meta"):
        backbone = build_yolact_resnet_fpn_backbone(cfg, ShapeSpec(channels=3))
        feats = backbone(torch.zeros(1, 3, 550, 550))
    assert [tuple(f.shape[-2:]) for f in feats.values()] == [(s, s) for s in (69, 35, 18, 9, 5)]
    priors = YolactAnchorGenerator(cfg)([torch.zeros(1, 1, 69, 69), *_feats((35, 18, 9, 5))])
    assert priors.shape == (19248, 4)


def test_square_anchors_of_the_official_yolact():
    gen = YolactAnchorGenerator(sizes=[24, 48], aspect_ratios=[1, 0.5, 2], max_size=550)
    priors = gen(_feats((2, 1)))
    assert priors.shape == (3 * (4 + 1), 4)
    # first location: centre ((0 + .5) / 2, (0 + .5) / 2); sides 24·sqrt(ar) px, square
    np.testing.assert_allclose(priors[:3, :2], [[0.25, 0.25]] * 3)
    sides = (priors[:3, 2] * 550).tolist()
    assert sides == pytest.approx([24, 24 * math.sqrt(0.5), 24 * math.sqrt(2)], rel=1e-6)
    assert torch.equal(priors[:, 2], priors[:, 3])
    # row-major: the second location is (x = 0.75, y = 0.25)
    np.testing.assert_allclose(priors[3, :2], [0.75, 0.25])
    np.testing.assert_allclose(priors[-3], [0.5, 0.5, 48 / 550, 48 / 550], rtol=1e-6)


def test_non_square_anchors_of_yolact_plus():
    gen = YolactAnchorGenerator(sizes=[24], aspect_ratios=[1, 0.5, 2], scales_per_octave=3,
                                max_size=550, square=False)  # fmt: skip
    priors = gen(_feats((1,))) * 550
    assert gen.num_anchors == 9 and priors.shape == (9, 4)
    # scales outer (24, 24·2^(1/3), 24·2^(2/3)), aspect ratios inner; w = s√ar, h = s/√ar
    for k, (j, ar) in enumerate((j, ar) for j in range(3) for ar in (1, 0.5, 2)):
        s = 24 * 2 ** (j / 3)
        np.testing.assert_allclose(priors[k, 2:], [s * math.sqrt(ar), s / math.sqrt(ar)], rtol=1e-5)


def test_box_coding_hand_values_and_round_trip():
    priors = torch.tensor([[0.5, 0.5, 0.2, 0.2], [0.3, 0.6, 0.1, 0.4]])
    boxes = torch.tensor([[0.4, 0.4, 0.6, 0.6], [0.25, 0.2, 0.45, 1.0]])
    loc = encode_boxes(boxes, priors)
    # box 1 = prior 1; box 2: centre (0.35, 0.6) -> (0.05 / (0.1 · 0.1), 0); w, h = 2 × prior
    expected = [[0, 0, 0, 0], [5.0, 0.0, math.log(2) / 0.2, math.log(2) / 0.2]]
    np.testing.assert_allclose(loc, expected, atol=1e-5)
    torch.testing.assert_close(decode_boxes(loc, priors), boxes)


def test_matching_thresholds_forced_best_prior_and_crowds():
    priors = torch.tensor(
        [[0.2, 0.2, 0.2, 0.2], [0.25, 0.2, 0.2, 0.2], [0.3, 0.2, 0.2, 0.2],
         [0.8, 0.8, 0.2, 0.2], [0.5, 0.8, 0.2, 0.2]]
    )  # fmt: skip
    truths = torch.tensor([[0.1, 0.1, 0.3, 0.3], [0.62, 0.7, 0.82, 0.9]])
    labels = torch.tensor([4, 7])
    iou = box_iou(truths, point_form(priors))
    # GT 0: prior 0 exact (1.0), prior 1 0.6 (positive), prior 2 1/3 (< 0.4: background)
    np.testing.assert_allclose(iou[0, :3], [1.0, 0.6, 1 / 3], rtol=1e-5)
    # GT 1 overlaps prior 3 by 0.2·0.18/(0.04+0.04-0.036) < 0.5: forced onto it anyway
    assert iou[1].max() < 0.5 and int(iou[1].argmax()) == 3
    conf, loc, idx = match_anchors(truths, labels, priors, None)
    assert conf.tolist() == [5, 5, 0, 8, 0]
    assert idx[3] == 1 and idx[0] == 0
    torch.testing.assert_close(loc[0], torch.zeros(4))
    # prior 4 lies inside a crowd box: intersection / prior area = 1 > 0.7 -> neutral
    crowd = torch.tensor([[0.3, 0.6, 0.7, 1.0]])
    conf, _, _ = match_anchors(truths, labels, priors, crowd)
    assert conf.tolist() == [5, 5, 0, 8, -1]
    # a neutral band: IoU in [0.4, 0.5) -> -1
    conf, _, _ = match_anchors(truths[:1], labels[:1], priors, None, neg_thresh=0.3)
    assert conf.tolist() == [5, 5, -1, 0, 0]
    # no ground truth: background everywhere, crowds still neutral
    empty = torch.zeros(0, 4)
    conf, loc, _ = match_anchors(empty, labels[:0], priors, crowd)
    assert conf.tolist() == [0, 0, 0, 0, -1] and torch.all(loc == 0)


def _brute_force_fast_nms(boxes, scores, iou_thr, top_k, max_det):
    """The Fast NMS definition, one candidate at a time."""
    kept = []
    for c in range(scores.shape[0]):
        order = sorted(range(scores.shape[1]), key=lambda i: -scores[c, i])[:top_k]
        for r, i in enumerate(order):
            ious = [box_iou(boxes[i][None], boxes[j][None]).item() for j in order[:r]]
            if not ious or max(ious) <= iou_thr:
                kept.append((scores[c, i].item(), c, i))
    kept.sort(key=lambda t: -t[0])
    return kept[:max_det]


def test_fast_nms_matches_the_brute_force_definition():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(60, 2, generator=g) * 0.7
    boxes = torch.cat([xy, xy + 0.1 + torch.rand(60, 2, generator=g) * 0.2], 1)
    coefs = torch.randn(60, 4, generator=g)
    scores = torch.rand(3, 60, generator=g)
    out_boxes, out_coefs, classes, out_scores = fast_nms(boxes, coefs, scores, 0.5, 20, 25)
    ref = _brute_force_fast_nms(boxes, scores, 0.5, 20, 25)
    assert [(c, round(s, 6)) for s, c, _ in ref] == list(
        zip(classes.tolist(), [round(s, 6) for s in out_scores.tolist()])
    )
    idx = [i for _, _, i in ref]
    torch.testing.assert_close(out_boxes, boxes[idx])
    torch.testing.assert_close(out_coefs, coefs[idx])
    # a suppressed box still suppresses (unlike greedy NMS): A > B > C, A~B, B~C, A!~C
    chain = torch.tensor([[0.0, 0, 0.4, 0.4], [0.1, 0, 0.5, 0.4], [0.2, 0, 0.6, 0.4]])
    _, _, _, s = fast_nms(chain, torch.zeros(3, 1), torch.tensor([[0.9, 0.8, 0.7]]), 0.5)
    assert s.tolist() == pytest.approx([0.9])


def test_cross_class_fast_nms():
    boxes = torch.tensor([[0.0, 0, 0.4, 0.4], [0.05, 0, 0.45, 0.4], [0.6, 0.6, 0.9, 0.9]])
    scores = torch.tensor([[0.9, 0.1, 0.3], [0.05, 0.8, 0.6]])  # classes 0, 1, 1
    b, _, classes, s = cross_class_fast_nms(boxes, torch.zeros(3, 1), scores, 0.5, 200)
    # box 1 (class 1) overlaps box 0 (class 0, higher score): dropped across classes
    assert classes.tolist() == [0, 1] and s.tolist() == pytest.approx([0.9, 0.6])
    torch.testing.assert_close(b, boxes[[0, 2]])


def test_box_iou_is_bitwise_the_official_arithmetic():
    """The in-place, per-axis IoU gives the official ``jaccard``'s floats exactly (its formula
    written out here), batched and 2-D, with a duplicate and an empty box."""
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(2, 3, 50, 2, generator=g)
    boxes = torch.cat([xy, xy + torch.rand(2, 3, 50, 2, generator=g) * 0.3], -1)
    boxes[0, 0, 5] = boxes[0, 0, 3]
    boxes[0, 0, 7, 2:] = boxes[0, 0, 7, :2]

    def official(a, b):
        lt = torch.max(a[..., :, None, :2], b[..., None, :, :2])
        rb = torch.min(a[..., :, None, 2:], b[..., None, :, 2:])
        inter = (rb - lt).clamp(min=0).prod(-1)
        area_a = ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]))[..., :, None]
        area_b = ((b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]))[..., None, :]
        return inter / (area_a + area_b - inter)

    for a, b in ((boxes, boxes), (boxes[1, 2], boxes[0, 1, :20])):
        ours, ref = box_iou(a, b), official(a, b)
        assert torch.equal(ours.nan_to_num(-1.0), ref.nan_to_num(-1.0))
    iou = box_iou(boxes, boxes)[0, 0]
    assert iou[3, 5] == 1 and iou[7, 7].isnan() and iou[7, :7].eq(0).all()


@pytest.mark.parametrize("cross_class", [False, True])
def test_select_on_the_candidates_equals_nms_over_every_prior(cross_class):
    """``YOLACT.select`` runs Fast NMS on the compacted candidates; the detections (and their
    slots) equal those of the NMS over all P priors with the non-candidates at -1: images with
    more candidates than TOP_K, fewer, and none."""
    g = torch.Generator().manual_seed(0)
    b, p, c, top_k, max_det = 3, 400, 4, 30, 50
    xy = torch.rand(b, p, 2, generator=g) * 0.8
    boxes = torch.cat([xy, xy + 0.05 + torch.rand(b, p, 2, generator=g) * 0.3], 2)
    scores = torch.softmax(torch.randn(b, p, c + 1, generator=g) * 2, -1)
    scores[1, 25:, 1:] = 0.01  # image 1: 25 candidates (< TOP_K); image 2: none
    scores[2, :, 1:] = 0.01
    model = YOLACT.__new__(YOLACT)  # only the NMS settings select() reads
    model.nms_conf_thresh, model.nms_iou_thresh, model.nms_top_k = 0.05, 0.5, top_k
    model.max_detections, model.cross_class_nms = max_det, cross_class
    for images in (slice(0, 3), slice(1, 3), slice(2, 3)):  # at most P, 25 and 0 candidates
        every = select_candidates(scores[images], 0.05)
        if cross_class:
            ref = batched_cross_class_fast_nms(boxes[images], every, 0.5, top_k)
        else:
            ref = batched_fast_nms(boxes[images], every, 0.5, top_k, max_det)
        ref = canonical_order(*ref, p)
        out = model.select(boxes[images], scores[images])
        assert [t.shape for t in out] == [t.shape for t in ref]
        for a, r in zip(out, ref):
            torch.testing.assert_close(a, r, rtol=0, atol=0)
    kept = out[2] >= 0
    assert kept.sum() == 0
    idx, _, scores_out = model.select(boxes, scores)
    kept = (scores_out >= 0).sum(1)
    assert kept[0] > 0 and kept[1] > 0 and kept[2] == 0
    assert idx[1][scores_out[1] >= 0].max() < 25  # only image 1's candidates


def test_crop_with_one_pixel_padding():
    masks = torch.ones(6, 8, 1)
    # box x 2..4 px, y 1..3 px of an 8x6 map; padded by 1: x in [1, 5), y in [0, 4)
    out = crop_masks(masks, torch.tensor([[2 / 8, 1 / 6, 4 / 8, 3 / 6]]))[:, :, 0]
    expected = torch.zeros(6, 8)
    expected[0:4, 1:5] = 1
    assert torch.equal(out, expected)
    # without padding, fractional edges: x in [1.6, 4.8) -> columns 2..4
    out = crop_masks(masks, torch.tensor([[0.2, 0.0, 0.6, 1.0]]), padding=0)[:, :, 0]
    assert out[0].tolist() == [0, 0, 1, 1, 1, 0, 0, 0]


def test_mask_upsampling_inside_boxes_equals_full_interpolation():
    g = torch.Generator().manual_seed(0)
    masks = torch.sigmoid(torch.randn(69, 69, 12, generator=g) * 3)
    xy = torch.rand(12, 2, generator=g) * 0.8
    boxes = torch.cat([xy, xy + torch.rand(12, 2, generator=g) * 0.3 + 0.01], 1).clamp(max=1)
    boxes[0] = torch.tensor([0.0, 0.0, 1.0, 1.0])  # whole map
    boxes[1] = torch.tensor([0.5, 0.5, 0.5, 0.5])  # degenerate: 1 px of padding only
    cropped = crop_masks(masks, boxes).permute(2, 0, 1).contiguous()
    cropped[2] = 0  # an empty mask
    for size in [(210, 300), (40, 33), (69, 69)]:
        ref = torch.nn.functional.interpolate(
            cropped[None], size, mode="bilinear", align_corners=False
        )[0]
        assert torch.equal(upsample_masks_in_boxes(cropped, *size), ref > 0.5)
