"""Keypoint-detector heatmap ops shared by CornerNet / CenterNet: 3x3 max-pool peak extraction
with top-K, Gaussian radius (fixed and legacy formulas), Gaussian drawing, the penalty-reduced
focal loss (CornerNet, α = 2, β = 4), the associative-embedding pull/push loss, the offset
smooth-L1 loss and the four directional corner poolings (cumulative maxima, pure PyTorch with
autograd; CornerNet's compiled pools compute the same)."""

import math

import numpy as np
import torch
import torch.nn.functional as F

from .heatmaps import heatmap_nms

__all__ = [
    "ae_pull_push_loss",
    "bottom_pool",
    "draw_gaussian",
    "gather_at",
    "gaussian_radius",
    "heatmap_focal_loss",
    "left_pool",
    "offset_smooth_l1_loss",
    "right_pool",
    "top_pool",
    "topk_peaks",
]


def topk_peaks(heat: torch.Tensor, k: int, kernel: int = 3):
    """(N, C, H, W) scores -> the ``k`` best ``kernel`` x ``kernel`` local maxima over all classes:
    ``(scores, classes, ys, xs)`` each (N, k), scores descending (official ``_nms`` + ``_topk``;
    the per-class pre-selection of the official code selects the same peaks)."""
    n, c, h, w = heat.shape
    scores, inds = heatmap_nms(heat, kernel).reshape(n, -1).topk(min(k, c * h * w))
    # a - (a // b) * b, not a % b: equal for these non-negative indices, and the ONNX exporter
    # (torch.onnx dynamo, onnxscript 0.7) cannot convert `%` by a symbolic size
    classes = inds // (h * w)
    pix = inds - classes * (h * w)
    ys = pix // w
    return scores, classes, ys, pix - ys * w


def gather_at(feat: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Values of the (N, C, H, W) maps ``feat`` at the (N, K) integer positions ``ys``, ``xs``:
    (N, K, C)."""
    n = torch.arange(feat.shape[0], device=feat.device)[:, None]
    return feat[n, :, ys, xs]


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7, legacy: bool = False):
    """Radius of the disc of corner/centre positions that keeps IoU >= ``min_overlap`` with the
    box (CornerNet's three cases: both corners inside, both outside, one of each). The corrected
    roots are ``(b - sqrt(Δ)) / 2a`` (cases 1, 2) and ``(-b + sqrt(Δ)) / 2a`` (case 3);
    ``legacy=True`` is the formula CornerNet and CenterNet (Zhou) shipped, ``(b + sqrt(Δ)) / 2``
    in every case. 50x100 box: 14.45 (0.3), 5.39 (0.7); legacy 0.7: 18.39."""
    a1, b1 = 1.0, height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    a2, b2 = 4.0, 2.0 * (height + width)
    c2 = (1 - min_overlap) * width * height
    a3, b3 = 4.0 * min_overlap, -2.0 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    sq1 = math.sqrt(b1 * b1 - 4 * a1 * c1)
    sq2 = math.sqrt(b2 * b2 - 4 * a2 * c2)
    sq3 = math.sqrt(b3 * b3 - 4 * a3 * c3)
    if legacy:
        return min((b1 + sq1) / 2, (b2 + sq2) / 2, (b3 + sq3) / 2)
    return min((b1 - sq1) / (2 * a1), (b2 - sq2) / (2 * a2), (b3 + sq3) / (2 * a3))


def draw_gaussian(heatmap: np.ndarray, center, radius: int, sigma_div: float = 6) -> np.ndarray:
    """Max-paste the (2r+1)² Gaussian with σ = (2r+1) / ``sigma_div`` centred on integer
    ``center`` (x, y) into ``heatmap`` (H, W), in place (official ``draw_umich_gaussian``;
    CenterNet-Triplet draws its centres with ``sigma_div=5``)."""
    radius = int(radius)
    d = 2 * radius + 1
    sigma = d / sigma_div
    m = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-(m[None] ** 2 + m[:, None] ** 2) / (2 * sigma * sigma))
    g[g < np.finfo(g.dtype).eps * g.max()] = 0
    x, y = int(center[0]), int(center[1])
    h, w = heatmap.shape
    left, right = min(x, radius), min(w - x, radius + 1)
    top, bottom = min(y, radius), min(h - y, radius + 1)
    if right > 0 and bottom > 0 and left >= 0 and top >= 0:
        region = heatmap[y - top : y + bottom, x - left : x + right]
        patch = g[radius - top : radius + bottom, radius - left : radius + right]
        np.maximum(region, patch, out=region)
    return heatmap


def heatmap_focal_loss(pred: torch.Tensor, gt: torch.Tensor, alpha: float = 2, beta: float = 4):
    """CornerNet's penalty-reduced focal loss on sigmoid ``pred`` and Gaussian ``gt`` heatmaps:
    -Σ[(1-p)^α log p at gt == 1] - Σ[(1-gt)^β p^α log(1-p) elsewhere], divided by the number of
    gt == 1 pixels (the negative term alone when there is none)."""
    pos = gt.eq(1).float()
    neg = 1 - pos
    pos_loss = (torch.log(pred) * (1 - pred) ** alpha * pos).sum()
    neg_loss = (torch.log(1 - pred) * pred**alpha * (1 - gt) ** beta * neg).sum()
    num_pos = pos.sum()
    if num_pos == 0:
        return -neg_loss
    return -(pos_loss + neg_loss) / num_pos


def ae_pull_push_loss(tag0: torch.Tensor, tag1: torch.Tensor, mask: torch.Tensor):
    """CornerNet's associative-embedding loss on the 1-D tags of the two corners of each object:
    ``tag0``, ``tag1`` (B, M) gathered at the objects' corners, ``mask`` (B, M) marks the real
    objects. Per image with N objects and ē the mean tag of an object: pull = Σ[(t0 - ē)² +
    (t1 - ē)²] / N, push = Σ_{k≠j} relu(1 - |ē_k - ē_j|) / (N (N - 1)); both summed over the
    batch. The official epsilons are kept (N + 1e-4, N(N - 1) + 1e-4, the diagonal k = j
    entering as relu(1) - 1 / (N + 1e-4)), so one object alone gives push ≈ 1 (a constant without
    gradient), as in the official loss. Returns ``(pull, push)``."""
    mask = mask.bool()
    num = mask.sum(1, keepdim=True).float()
    mean = (tag0 + tag1) / 2
    pull = ((tag0 - mean) ** 2 / (num + 1e-4))[mask].sum()
    pull = pull + ((tag1 - mean) ** 2 / (num + 1e-4))[mask].sum()
    pairs = mask[:, None, :] & mask[:, :, None]
    num = num[:, :, None]
    dist = F.relu(1 - (mean[:, None, :] - mean[:, :, None]).abs()) - 1 / (num + 1e-4)
    push = (dist / ((num - 1) * num + 1e-4))[pairs].sum()
    return pull, push


def offset_smooth_l1_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor):
    """CornerNet's offset loss: smooth-L1 (β = 1) summed over the objects' (B, M, 2) offsets
    where ``mask`` (B, M) is set, divided by (number of objects + 1e-4)."""
    mask = mask.bool()
    loss = F.smooth_l1_loss(pred[mask], target[mask], reduction="sum", beta=1.0)
    return loss / (mask.sum() + 1e-4)


def _cummax(x: torch.Tensor, dim: int, reverse: bool = False) -> torch.Tensor:
    """Running max along ``dim`` (from the end with ``reverse``): ``cummax``, or, while exporting
    to ONNX (which has no running max), the same values by a doubling scan — x = max(x, x shifted
    by 1, 2, 4, ... positions), 13 steps: exact for sizes up to 8192."""
    if not torch.onnx.is_in_onnx_export():
        return x.flip(dim).cummax(dim)[0].flip(dim) if reverse else x.cummax(dim)[0]
    n, shift = x.shape[dim], 1
    for _ in range(13):
        shape = list(x.shape)
        shape[dim] = shift
        fill = x.new_full(shape, float("-inf"))
        if reverse:
            shifted = torch.cat([x, fill], dim).narrow(dim, shift, n)
        else:
            shifted = torch.cat([fill, x], dim).narrow(dim, 0, n)
        x = torch.maximum(x, shifted)
        shift *= 2
    return x


def top_pool(x: torch.Tensor) -> torch.Tensor:
    """CornerNet top pooling: out[i, j] = max over k >= i of x[k, j] (N, C, H, W)."""
    return _cummax(x, 2, reverse=True)


def bottom_pool(x: torch.Tensor) -> torch.Tensor:
    """out[i, j] = max over k <= i of x[k, j]."""
    return _cummax(x, 2)


def left_pool(x: torch.Tensor) -> torch.Tensor:
    """out[i, j] = max over k >= j of x[i, k]."""
    return _cummax(x, 3, reverse=True)


def right_pool(x: torch.Tensor) -> torch.Tensor:
    """out[i, j] = max over k <= j of x[i, k]."""
    return _cummax(x, 3)
