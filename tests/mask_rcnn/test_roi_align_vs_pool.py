"""RoIPool vs RoIAlign on a feature map whose value is its own x coordinate.

Feature map: 1x1x6x8, value(y, x) = x, i.e. pixel index i holds i. In the continuous coordinates
boxes are given in, pixel i covers [i, i + 1] and its centre is i + 0.5, so the bilinear
interpolation of this ramp at a continuous x is exactly x - 0.5 (interpolation of a linear
function is exact). The expected numbers below are worked out by hand in the comments, never by
running the operators.

Box (x0, y0, x1, y1) = (1.125, 0, 4.625, 4) in feature pixels, pooled to 2x2 bins. The ramp
does not depend on y, so both rows of every output are equal; only the two columns matter.
"""

import pytest
import torch
from detectron2.layers import ROIAlign
from detectron2.modeling.poolers import ROIPooler
from detectron2.structures import Boxes
from torchvision.ops import roi_align, roi_pool

H, W = 6, 8
BOX = (1.125, 0.0, 4.625, 4.0)
OUT = (2, 2)


def ramp():
    return torch.arange(W, dtype=torch.float32).expand(1, 1, H, W).contiguous()


def rois(box, dx=0.0, stride=1):
    """Bx5 rois (batch index, x0, y0, x1, y1) in image pixels: feature box * stride."""
    x0, y0, x1, y1 = box
    return torch.tensor([[0.0, (x0 + dx) * stride, y0 * stride, (x1 + dx) * stride, y1 * stride]])


def columns(out):
    """The two bin values of a 1x1x2x2 output (both rows must agree: the ramp ignores y)."""
    assert out.shape == (1, 1, *OUT) and torch.equal(out[0, 0, 0], out[0, 0, 1])
    return out[0, 0, 0].tolist()


# RoIPool (torchvision, Fast R-CNN convention): round the box, end pixel included.
#   x: round(1.125) = 1, round(4.625) = 5 -> pixels 1..5, width 5, bin width 5 / 2 = 2.5
#      bin 0: [floor(0 * 2.5), ceil(1 * 2.5)) = [0, 3) + 1 -> pixels 1, 2, 3 -> max 3
#      bin 1: [floor(1 * 2.5), ceil(2 * 2.5)) = [2, 5) + 1 -> pixels 3, 4, 5 -> max 5
#   (pixel 3 is in both bins; pixel 5, centre 5.5, lies outside the box that ends at 4.625)
ROI_POOL = [3.0, 5.0]
# RoIAlign aligned=True (detectron2's ROIAlignV2): no rounding; bins are [1.125, 2.875] and
# [2.875, 4.625] (width 1.75). The mean of the (symmetric) sample points is the bin centre,
# 2.0 and 3.75, and the ramp there is centre - 0.5:
#   sampling_ratio=1: one sample at the centre          -> 2.0 - 0.5 = 1.5, 3.75 - 0.5 = 3.25
#   sampling_ratio=2: samples at 1.5625, 2.4375 (bin 0) -> (1.0625 + 1.9375) / 2 = 1.5
#                     and 3.3125, 4.1875 (bin 1)        -> (2.8125 + 3.6875) / 2 = 3.25
ROI_ALIGN_V2 = [1.5, 3.25]
# RoIAlign aligned=False (legacy Detectron "ROIAlign"): the same samples without the -0.5 pixel
# shift, i.e. read as if pixel centres were at integers: 2.0 and 3.75, half a pixel too far right
ROI_ALIGN_LEGACY = [2.0, 3.75]


def test_roi_pool_rounds_the_box_and_takes_maxima():
    assert columns(roi_pool(ramp(), rois(BOX), OUT, spatial_scale=1.0)) == ROI_POOL


@pytest.mark.parametrize("sampling_ratio", [1, 2, 0])  # 0: adaptive, ceil(3.5 / 2) = 2 here
def test_roi_align_samples_bilinearly_without_rounding(sampling_ratio):
    out = roi_align(ramp(), rois(BOX), OUT, 1.0, sampling_ratio, aligned=True)
    assert columns(out) == ROI_ALIGN_V2
    legacy = roi_align(ramp(), rois(BOX), OUT, 1.0, sampling_ratio, aligned=False)
    assert columns(legacy) == ROI_ALIGN_LEGACY
    # detectron2's ROIAlign is torchvision's roi_align with the same arguments
    for aligned, expected in [(True, ROI_ALIGN_V2), (False, ROI_ALIGN_LEGACY)]:
        pooler = ROIAlign(OUT, spatial_scale=1.0, sampling_ratio=sampling_ratio, aligned=aligned)
        assert columns(pooler(ramp(), rois(BOX))) == expected


# Shift the box right by dx feature pixels:
#   RoIAlign: every sample moves by dx, so each bin value moves by exactly dx.
#   RoIPool:  dx = 0.25: round(1.375) = 1, round(4.875) = 5 -> same pixels 1..5 -> [3, 5]
#             dx = 0.5:  round(1.625) = 2, round(5.125) = 5 -> pixels 2..5, bin width 2
#                        -> bins {2, 3}, {4, 5} -> [3, 5]
#             dx = 0.75: round(1.875) = 2, round(5.375) = 5 -> as for 0.5 -> [3, 5]
#             dx = 1.0:  round(2.125) = 2, round(5.625) = 6 -> pixels 2..6
#                        -> bins {2, 3, 4}, {4, 5, 6} -> [4, 6]
ROI_POOL_SHIFTED = {0.25: [3.0, 5.0], 0.5: [3.0, 5.0], 0.75: [3.0, 5.0], 1.0: [4.0, 6.0]}


@pytest.mark.parametrize("stride", [1, 16])  # stride 16: the same box in image pixels
def test_sub_pixel_shift_moves_roi_align_but_not_roi_pool(stride):
    scale = 1.0 / stride
    align0 = roi_align(ramp(), rois(BOX, stride=stride), OUT, scale, 2, aligned=True)
    pool0 = roi_pool(ramp(), rois(BOX, stride=stride), OUT, scale)
    for dx, pool_expected in ROI_POOL_SHIFTED.items():
        box = rois(BOX, dx, stride)  # stride 16: dx * 16 image pixels
        align = roi_align(ramp(), box, OUT, scale, 2, aligned=True)
        assert columns(align) == [v + dx for v in ROI_ALIGN_V2]
        assert torch.equal(align - align0, torch.full_like(align, dx))
        pool = roi_pool(ramp(), box, OUT, scale)
        assert columns(pool) == pool_expected
    # the quarter-pixel shift itself is invisible to RoIPool
    assert torch.equal(roi_pool(ramp(), rois(BOX, 0.25, stride), OUT, scale), pool0)


POOLER_EXPECTED = {"ROIPool": ROI_POOL, "ROIAlign": ROI_ALIGN_LEGACY, "ROIAlignV2": ROI_ALIGN_V2}


@pytest.mark.parametrize("pooler_type", list(POOLER_EXPECTED))
def test_detectron2_pooler_types(pooler_type):
    """detectron2's ROIPooler on a stride-16 feature map, box given in image pixels."""
    pooler = ROIPooler(OUT, scales=(1.0 / 16,), sampling_ratio=2, pooler_type=pooler_type)
    image_box = Boxes(torch.tensor([[v * 16 for v in BOX]]))  # (18, 0, 74, 64)
    assert columns(pooler([ramp()], [image_box])) == POOLER_EXPECTED[pooler_type]
