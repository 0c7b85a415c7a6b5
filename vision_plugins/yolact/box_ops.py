"""YOLACT's anchors, box coding, matching, Fast NMS and mask crop.

Boxes here are *relative* (divided by the network input width/height): anchors ("priors") are
(cx, cy, w, h), everything else (x1, y1, x2, y2), as in the official code.
"""

import math
from itertools import product
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from torch import nn

__all__ = [
    "YolactAnchorGenerator",
    "box_iou",
    "box_iof",
    "crop_masks",
    "decode_boxes",
    "encode_boxes",
    "batched_cross_class_fast_nms",
    "batched_fast_nms",
    "canonical_order",
    "cross_class_fast_nms",
    "fast_nms",
    "gather_rows",
    "match_anchors",
    "point_form",
    "sanitize_coordinates",
    "select_candidates",
]

VARIANCES = (0.1, 0.2)  # SSD box-coding variances (centre, size)


class YolactAnchorGenerator(nn.Module):
    """Anchors of every FPN level, (sum_l H_l W_l A, 4) relative (cx, cy, w, h).

    Unlike detectron2's ``DefaultAnchorGenerator``, centres come from the feature size, not the
    stride: ((i + 0.5) / W_l, (j + 0.5) / H_l), and sizes are relative to ``max_size`` (the
    official ``use_pixel_scales``): w = s·sqrt(ar) / max_size, h = s / sqrt(ar) / max_size, or
    h = w with ``square``. Order: row-major positions, then scales, then aspect ratios. Built by
    ``YOLACT`` from ``MODEL.YOLACT`` (not registered: ``MODEL.ANCHOR_GENERATOR`` does not apply)."""

    @configurable
    def __init__(self, *, sizes, aspect_ratios, scales_per_octave=1, max_size=550, square=True):
        super().__init__()
        self.sizes = [
            [s * 2 ** (i / scales_per_octave) for i in range(scales_per_octave)] for s in sizes
        ]
        self.aspect_ratios = list(aspect_ratios)
        self.max_size, self.square = max_size, square
        self._cache = {}

    @classmethod
    def from_config(cls, cfg, input_shape=None):
        c = cfg.MODEL.YOLACT
        return {
            "sizes": list(c.ANCHOR_SIZES),
            "aspect_ratios": list(c.ASPECT_RATIOS),
            "scales_per_octave": c.SCALES_PER_OCTAVE,
            "max_size": c.MAX_SIZE,
            "square": c.SQUARE_ANCHORS,
        }

    @property
    def num_anchors(self) -> int:
        """Anchors per location (the same on every level)."""
        return len(self.sizes[0]) * len(self.aspect_ratios)

    def level_anchors(self, level: int, conv_h: int, conv_w: int) -> List[float]:
        data = []
        for j, i in product(range(conv_h), range(conv_w)):
            x, y = (i + 0.5) / conv_w, (j + 0.5) / conv_h
            for scale in self.sizes[level]:
                for ar in self.aspect_ratios:
                    w = scale * math.sqrt(ar) / self.max_size
                    h = w if self.square else scale / math.sqrt(ar) / self.max_size
                    data += [x, y, w, h]
        return data

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(features) != len(self.sizes):
            raise ValueError(
                f"{len(features)} feature levels but {len(self.sizes)} anchor sizes "
                f"(MODEL.YOLACT.ANCHOR_SIZES)"
            )
        shapes = tuple(tuple(f.shape[-2:]) for f in features)
        ref = features[0]
        key = (shapes, ref.device)
        if key not in self._cache:
            data = []
            for level, (h, w) in enumerate(shapes):
                data += self.level_anchors(level, h, w)
            # float64 arithmetic as in Python, stored as float32 like the official torch.Tensor
            self._cache[key] = torch.tensor(data, dtype=torch.float32, device=ref.device).view(
                -1, 4
            )
        return self._cache[key]


def point_form(priors: torch.Tensor) -> torch.Tensor:
    """(cx, cy, w, h) -> (x1, y1, x2, y2)."""
    return torch.cat((priors[:, :2] - priors[:, 2:] / 2, priors[:, :2] + priors[:, 2:] / 2), 1)


def _corners(a: torch.Tensor, b: torch.Tensor):
    """x1, y1, x2, y2 of (..., A, 4) boxes as (..., A, 1) and of (..., B, 4) as (..., 1, B)."""
    return [t[..., :, None] for t in a.unbind(-1)], [t[..., None, :] for t in b.unbind(-1)]


def _intersection(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(..., A, 4), (..., B, 4) -> (..., A, B) intersection areas: the official
    ``intersect``'s arithmetic (clamped width times clamped height), on x and y separately and
    in place (no autograd: matching and NMS only), ~4x faster on Fast NMS's (C, 200, 200)."""
    (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = _corners(a, b)
    w = torch.minimum(ax2, bx2).sub_(torch.maximum(ax1, bx1)).clamp_(min=0)
    h = torch.minimum(ay2, by2).sub_(torch.maximum(ay1, by1)).clamp_(min=0)
    return w.mul_(h)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of (..., A, 4) and (..., B, 4) boxes -> (..., A, B) (batched like the official
    ``jaccard``, same arithmetic: inter / (area_a + area_b - inter))."""
    inter = _intersection(a, b)
    (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = _corners(a, b)
    area_a, area_b = (ax2 - ax1) * (ay2 - ay1), (bx2 - bx1) * (by2 - by1)
    return inter.div_((area_a + area_b).sub_(inter))


def box_iof(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over the area of ``a``'s boxes: (A, 4), (B, 4) -> (A, B)."""
    area_a = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))[:, None]
    return _intersection(a, b) / area_a


def encode_boxes(matched: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """SSD coding of (x1, y1, x2, y2) boxes against (cx, cy, w, h) priors (no clamp)."""
    g_cxcy = (matched[:, :2] + matched[:, 2:]) / 2 - priors[:, :2]
    g_cxcy = g_cxcy / (VARIANCES[0] * priors[:, 2:])
    g_wh = torch.log((matched[:, 2:] - matched[:, :2]) / priors[:, 2:]) / VARIANCES[1]
    return torch.cat([g_cxcy, g_wh], 1)


def decode_boxes(loc: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`encode_boxes`: (..., P, 4) deltas -> (..., P, 4) (x1, y1, x2, y2)."""
    cxcy = priors[..., :2] + loc[..., :2] * VARIANCES[0] * priors[..., 2:]
    wh = priors[..., 2:] * torch.exp(loc[..., 2:] * VARIANCES[1])
    x1y1 = cxcy - wh / 2
    return torch.cat([x1y1, x1y1 + wh], -1)


def match_anchors(
    truths: torch.Tensor,
    labels: torch.Tensor,
    priors: torch.Tensor,
    crowd_boxes: Optional[torch.Tensor],
    pos_thresh: float = 0.5,
    neg_thresh: float = 0.4,
    crowd_iof: float = 0.7,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Official ``match``: ``(conf_t, loc_t, idx_t)`` for one image.

    ``conf_t`` (P,): 1 + label for positives (IoU >= pos), 0 background (IoU < neg), -1 neutral;
    every GT is first forced onto its best prior (greedy, best pair first). A non-positive prior
    whose intersection with a crowd box / its own area > crowd_iof is neutral. ``loc_t`` (P, 4)
    encoded boxes of the matched GT, ``idx_t`` (P,) matched GT index. No GT: every prior is
    background (or neutral near a crowd), ``loc_t`` zeros, ``idx_t`` zeros."""
    num_priors = priors.shape[0]
    decoded = point_form(priors)
    if truths.shape[0] == 0:
        conf = torch.zeros(num_priors, dtype=torch.long, device=priors.device)
        loc = torch.zeros(num_priors, 4, device=priors.device)
        idx = torch.zeros(num_priors, dtype=torch.long, device=priors.device)
    else:
        overlaps = box_iou(truths, decoded)
        best_truth_overlap, best_truth_idx = overlaps.max(0)
        for _ in range(overlaps.shape[0]):
            best_prior_overlap, best_prior_idx = overlaps.max(1)
            j = best_prior_overlap.max(0)[1]
            i = best_prior_idx[j]
            overlaps[:, i] = -1
            overlaps[j, :] = -1
            best_truth_overlap[i] = 2
            best_truth_idx[i] = j
        conf = labels[best_truth_idx] + 1
        conf[best_truth_overlap < pos_thresh] = -1
        conf[best_truth_overlap < neg_thresh] = 0
        loc = encode_boxes(truths[best_truth_idx], priors)
        idx = best_truth_idx
    if crowd_boxes is not None and crowd_boxes.shape[0] > 0 and crowd_iof < 1:
        best_crowd = box_iof(decoded, crowd_boxes).max(1)[0]
        conf[(conf <= 0) & (best_crowd > crowd_iof)] = -1
    return conf, loc, idx


def select_candidates(scores: torch.Tensor, conf_thresh: float) -> torch.Tensor:
    """Official ``Detect`` candidate filter in a fixed shape: (B, P, C+1) softmax scores ->
    (B, C, P) foreground scores where a prior whose best foreground score is <= ``conf_thresh``
    gets -1 on every class (not a candidate: sorted after every candidate, never kept)."""
    fg = scores[..., 1:]
    candidate = fg.max(dim=-1, keepdim=True)[0] > conf_thresh
    return fg.masked_fill(~candidate, -1.0).transpose(1, 2)


def compact_candidates(boxes: torch.Tensor, candidates: torch.Tensor):
    """The candidates of :func:`select_candidates` ((B, C, P), -1 on every class of a
    non-candidate) gathered in front, in prior order: ``(prior indices (B, N), boxes (B, N, 4),
    scores (B, C, N))``, N = the most candidates of an image (at least 1; an image with fewer
    is filled with non-candidates, still -1). The official ``Detect`` also filters before its
    per-class sort; the NMS functions give the same detections on the compacted set (a
    non-candidate is sorted after every candidate and never kept, so it suppresses none) at a
    fraction of the cost: top-k over N instead of P priors per class."""
    is_candidate = candidates[:, 0] >= 0  # (B, P)
    n = max(int(is_candidate.sum(1).max()), 1)
    prior = torch.argsort((~is_candidate).to(torch.int8), dim=1, stable=True)[:, :n]
    scores = candidates.gather(2, prior[:, None, :].expand(-1, candidates.shape[1], -1))
    return prior, gather_rows(boxes, prior), scores


def pad_detections(idx: torch.Tensor, classes: torch.Tensor, scores: torch.Tensor, size: int):
    """NMS outputs (B, D) padded to (B, ``size``) with empty slots (prior 0, class 0, score -1)."""
    pad = size - idx.shape[1]
    if pad <= 0:
        return idx, classes, scores
    return (
        F.pad(idx, (0, pad)),
        F.pad(classes, (0, pad)),
        F.pad(scores, (0, pad), value=-1.0),
    )


def gather_rows(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """(B, P, D) rows at (B, ...) indices -> (B, ..., D)."""
    b, d = x.shape[0], x.shape[-1]
    flat = idx.reshape(b, -1, 1).expand(-1, -1, d)
    return x.gather(1, flat).view(*idx.shape, d)


def batched_fast_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    iou_threshold: float = 0.5,
    top_k: int = 200,
    max_detections: int = 100,
):
    """Official per-class Fast NMS in fixed shapes (the exported graph runs it). ``boxes``
    (B, P, 4), ``scores`` (B, C, P) foreground scores, -1 for non-candidates
    (:func:`select_candidates`). Per class the ``top_k`` best candidates (whatever their score
    for that class); a candidate is dropped if a higher-scored one of its class overlaps it by
    IoU > ``iou_threshold`` (even if that one is itself dropped); the ``max_detections`` best
    survivors over all classes, best first. Returns ``(prior indices (B, D), classes (B, D),
    scores (B, D))``, D = min(max_detections, C·min(top_k, P)); score -1 = no detection.
    ``topk`` replaces the official full sorts (same candidates in the same order up to exact
    ties)."""
    b, num_classes, num_priors = scores.shape
    scores, idx = scores.topk(min(top_k, num_priors), dim=2)  # (B, C, K)
    k = idx.shape[2]
    cand = gather_rows(boxes, idx)  # (B, C, K, 4)
    iou = box_iou(cand, cand).triu(diagonal=1)
    keep = (iou.max(dim=2)[0] <= iou_threshold) & (scores >= 0)
    scores = scores.masked_fill(~keep, -1.0).reshape(b, num_classes * k)
    classes = torch.arange(num_classes, device=boxes.device).repeat_interleave(k)
    scores, order = scores.topk(min(max_detections, num_classes * k), dim=1)
    return idx.reshape(b, -1).gather(1, order), classes[order], scores


def batched_cross_class_fast_nms(
    boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float = 0.5, top_k: int = 200
):
    """Official ``cc_fast_nms`` in fixed shapes: each candidate takes its best class; one Fast
    NMS over the ``top_k`` best candidates regardless of class; every survivor is kept (the
    official cross-class path applies no detection limit). Inputs and outputs as
    :func:`batched_fast_nms`, D = min(top_k, P), best first with -1 where dropped."""
    scores, classes = scores.max(dim=1)  # (B, P)
    scores, idx = scores.topk(min(top_k, scores.shape[1]), dim=1)
    cand = gather_rows(boxes, idx)
    iou = box_iou(cand, cand).triu(diagonal=1)
    keep = (iou.max(dim=1)[0] <= iou_threshold) & (scores >= 0)
    return idx, classes.gather(1, idx), scores.masked_fill(~keep, -1.0)


def canonical_order(
    idx: torch.Tensor, classes: torch.Tensor, scores: torch.Tensor, num_priors: int
):
    """Reorder the outputs of :func:`batched_fast_nms` / :func:`batched_cross_class_fast_nms`
    by (class, prior index), empty slots last with prior 0 and class 0. The order then depends
    only on which detections survive, not on float near-ties between their scores, so two
    backends whose scores differ by rounding give the same detections in the same slots;
    :func:`~vision_plugins.yolact.postprocess.detections_to_instances` restores best-first."""
    valid = scores >= 0
    slots = torch.arange(idx.shape[1], device=idx.device, dtype=torch.float32)
    key = (classes * num_priors + idx).to(torch.float32)  # < 2^24: exact in float32
    key = torch.where(valid, key, slots + 2.0**24)
    order = key.topk(idx.shape[1], dim=1, largest=False)[1]
    valid = valid.gather(1, order)
    idx = torch.where(valid, idx.gather(1, order), torch.zeros_like(idx))
    classes = torch.where(valid, classes.gather(1, order), torch.zeros_like(classes))
    return idx, classes, scores.gather(1, order)


def fast_nms(
    boxes: torch.Tensor,
    coefs: torch.Tensor,
    scores: torch.Tensor,
    iou_threshold: float = 0.5,
    top_k: int = 200,
    max_detections: int = 100,
):
    """:func:`batched_fast_nms` of one image's candidates: ``boxes`` (N, 4), ``coefs`` (N, k),
    ``scores`` (C, N) foreground scores. Returns the survivors ``(boxes, coefs, classes,
    scores)``, best first."""
    idx, classes, scores = batched_fast_nms(
        boxes[None], scores[None], iou_threshold, top_k, max_detections
    )
    return _survivors(boxes, coefs, idx[0], classes[0], scores[0])


def cross_class_fast_nms(
    boxes: torch.Tensor,
    coefs: torch.Tensor,
    scores: torch.Tensor,
    iou_threshold: float = 0.5,
    top_k: int = 200,
):
    """:func:`batched_cross_class_fast_nms` of one image's candidates (arguments and returns as
    :func:`fast_nms`; at most ``top_k`` survivors)."""
    idx, classes, scores = batched_cross_class_fast_nms(
        boxes[None], scores[None], iou_threshold, top_k
    )
    return _survivors(boxes, coefs, idx[0], classes[0], scores[0])


def _survivors(boxes, coefs, idx, classes, scores):
    keep = scores >= 0
    idx = idx[keep]
    return boxes[idx], coefs[idx], classes[keep], scores[keep]


def sanitize_coordinates(x1: torch.Tensor, x2: torch.Tensor, size: int, padding: int = 0):
    """Relative -> absolute (× size), ordered, padded by ``padding`` and clamped to [0, size]
    (the official ``sanitize_coordinates`` with ``cast=False``)."""
    x1, x2 = x1 * size, x2 * size
    lo, hi = torch.min(x1, x2), torch.max(x1, x2)
    return (lo - padding).clamp(min=0), (hi + padding).clamp(max=size)


def crop_masks(masks: torch.Tensor, boxes: torch.Tensor, padding: int = 1) -> torch.Tensor:
    """Zero every pixel of mask n outside box n (relative x1y1x2y2), grown by ``padding``
    pixels: ([B,] H, W, N) masks, ([B,] N, 4) boxes, as the official ``crop``."""
    h, w = masks.shape[-3], masks.shape[-2]
    x1, x2 = sanitize_coordinates(boxes[..., 0], boxes[..., 2], w, padding)
    y1, y2 = sanitize_coordinates(boxes[..., 1], boxes[..., 3], h, padding)
    x1, x2, y1, y2 = (t[..., None, None, :] for t in (x1, x2, y1, y2))
    cols = torch.arange(w, device=masks.device, dtype=x1.dtype)[None, :, None]
    rows = torch.arange(h, device=masks.device, dtype=x1.dtype)[:, None, None]
    keep = (cols >= x1) & (cols < x2) & (rows >= y1) & (rows < y2)
    return masks * keep


def _bilinear_source(out_size: int, in_size: int, device):
    """PyTorch's ``upsample_bilinear2d`` (align_corners=False) source indices and weights."""
    scale = in_size / out_size
    src = ((torch.arange(out_size, device=device, dtype=torch.float32) + 0.5) * scale - 0.5).clamp(
        min=0
    )
    i0 = src.long()
    i1 = torch.where(i0 < in_size - 1, i0 + 1, i0)
    l1 = src - i0
    return i0, i1, 1 - l1, l1


def upsample_masks_in_boxes(masks: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    """``F.interpolate(masks[None], (out_h, out_w), "bilinear", align_corners=False)[0] > 0.5``
    for masks that are zero outside a box (after ``crop_masks``): each mask is interpolated only
    over the output rows and columns whose source pixels are not all zero. (N, h, w) float ->
    (N, out_h, out_w) bool."""
    n, h, w = masks.shape
    out = torch.zeros(n, out_h, out_w, dtype=torch.bool, device=masks.device)
    if n == 0:
        return out
    y0, y1, ly0, ly1 = _bilinear_source(out_h, h, masks.device)
    x0, x1, lx0, lx1 = _bilinear_source(out_w, w, masks.device)
    nonzero = masks != 0
    rows = nonzero.any(2)  # (N, h)
    cols = nonzero.any(1)  # (N, w)
    out_rows = rows[:, y0] | rows[:, y1]  # output rows touched by a non-zero source row
    out_cols = cols[:, x0] | cols[:, x1]
    for i in range(n):
        r = out_rows[i].nonzero()
        c = out_cols[i].nonzero()
        if len(r) == 0 or len(c) == 0:
            continue
        r0, r1, c0, c1 = int(r[0]), int(r[-1]) + 1, int(c[0]), int(c[-1]) + 1
        # separable: each source row needed is interpolated along x once, then rows are blended
        # (the same float operations as interpolating every output row's two source rows)
        ys0, ys1 = y0[r0:r1], y1[r0:r1]
        first, last = int(ys0[0]), int(ys1[-1]) + 1  # source indices are non-decreasing
        m = masks[i, first:last]
        across = lx0[c0:c1] * m[:, x0[c0:c1]] + lx1[c0:c1] * m[:, x1[c0:c1]]
        value = ly0[r0:r1, None] * across[ys0 - first] + ly1[r0:r1, None] * across[ys1 - first]
        out[i, r0:r1, c0:c1] = value > 0.5
    return out
