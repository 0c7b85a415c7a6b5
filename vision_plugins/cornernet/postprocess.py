"""CornerNet / CenterNet-Triplet decoding and test-time post-processing, written from the
description of the official ``kp_utils._decode`` and ``test/coco.py``:

- ``corner_decode``: heatmaps -> the NUM_DETS best corner pairs ``[x1, y1, x2, y2, score, s_tl,
  s_br, cls]`` in output-map pixels (rejected pairs have score -1) and the top-K centre
  keypoints ``[x, y, cls, score]`` (Triplet);
- ``official_canvas``: the official test input placement (``crop_image``);
- ``center_region_check``: Triplet's re-scoring by centre keypoints;
- ``per_class_soft_nms``: per-class soft-NMS and the MAX_PER_IMAGE best boxes.
"""

import numpy as np
import torch

from ..layers.center_heatmaps import gather_at, topk_peaks
from ..layers.soft_nms import soft_nms

__all__ = ["center_region_check", "corner_decode", "official_canvas", "per_class_soft_nms"]


def corner_decode(tl_heat, br_heat, tl_tag, br_tag, tl_regr, br_regr, ct_heat=None, ct_regr=None,
                  k=100, kernel=3, ae_threshold=0.5, num_dets=1000):  # fmt: skip
    """Official ``_decode`` on sigmoid heatmaps (N, C, H, W), tags (N, 1, H, W), offsets
    (N, 2, H, W). Returns ``(detections (N, num_dets, 8), centres (N, K, 4) or None)``; x / y in
    output-map pixels (column / row + offset)."""
    batch = tl_heat.shape[0]
    tl_s, tl_c, tl_y, tl_x = topk_peaks(tl_heat, k, kernel)
    br_s, br_c, br_y, br_x = topk_peaks(br_heat, k, kernel)
    tl_off, br_off = gather_at(tl_regr, tl_y, tl_x), gather_at(br_regr, br_y, br_x)
    x1 = (tl_x.float() + tl_off[..., 0])[:, :, None].expand(batch, k, k)
    y1 = (tl_y.float() + tl_off[..., 1])[:, :, None].expand(batch, k, k)
    x2 = (br_x.float() + br_off[..., 0])[:, None, :].expand(batch, k, k)
    y2 = (br_y.float() + br_off[..., 1])[:, None, :].expand(batch, k, k)
    dists = (
        gather_at(tl_tag, tl_y, tl_x)[:, :, None, 0] - gather_at(br_tag, br_y, br_x)[:, None, :, 0]
    )
    s_tl = tl_s[:, :, None].expand(batch, k, k)
    s_br = br_s[:, None, :].expand(batch, k, k)
    scores = (s_tl + s_br) / 2
    cls = tl_c[:, :, None].expand(batch, k, k)
    reject = (cls != br_c[:, None, :]) | (dists.abs() > ae_threshold) | (x2 < x1) | (y2 < y1)
    scores = scores.masked_fill(reject, -1).reshape(batch, -1)
    scores, inds = scores.topk(min(num_dets, k * k))
    fields = [f.reshape(batch, -1).gather(1, inds) for f in (x1, y1, x2, y2)]
    fields += [scores] + [f.reshape(batch, -1).gather(1, inds) for f in (s_tl, s_br)]
    fields.append(cls.reshape(batch, -1).gather(1, inds).float())
    dets = torch.stack(fields, -1)
    if ct_heat is None:
        return dets, None
    ct_s, ct_c, ct_y, ct_x = topk_peaks(ct_heat, k, kernel)
    ct_off = gather_at(ct_regr, ct_y, ct_x)
    centres = torch.stack([ct_x.float() + ct_off[..., 0], ct_y.float() + ct_off[..., 1],
                           ct_c.float(), ct_s], -1)  # fmt: skip
    return dets, centres


def official_canvas(height, width):
    """Where the official test code puts an h x w image: a (h | 127) x (w | 127) zero canvas with
    the image centred (``crop_image``). Returns ``(canvas_hw, (top, left), (rows, cols))``:
    the image's top-left in the canvas and how many of its rows / columns are copied (for sizes
    already of the form 128k - 1 the last row / column is dropped, as officially)."""
    ch, cw = height | 127, width | 127
    rows = min(height // 2 + ch // 2, height)
    cols = min(width // 2 + cw // 2, width)
    return (ch, cw), (ch // 2 - height // 2, cw // 2 - width // 2), (rows, cols)


def center_region_check(dets, centres, small_area=22500.0, region_n=(3, 5)):
    """CenterNet-Triplet's check on valid boxes ``dets`` (M, ≥8: x1, y1, x2, y2, score, ..., cls)
    and centre keypoints ``centres`` (K, 4: x, y, cls, score), numpy, image pixels: a box keeps
    a score only if a same-class centre lies strictly inside its central region — the middle
    1/n of the box in x and y, n = ``region_n[0]`` for area <= ``small_area`` and ``region_n[1]``
    above — the first such centre (in ``centres`` order) giving score (2 s + s_c) / 3; other
    boxes get -1. Returns a re-scored copy."""
    dets = np.array(dets, dtype=np.float32, copy=True)
    if len(dets) == 0:
        return dets
    x1, y1, x2, y2 = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3]
    n = np.where((x2 - x1) * (y2 - y1) <= small_area, region_n[0], region_n[1]).astype(np.float32)
    a, b = (n + 1) / 2, (n - 1) / 2
    left, right = (a * x1 + b * x2) / n, (b * x1 + a * x2) / n
    top, bottom = (a * y1 + b * y2) / n, (b * y1 + a * y2) / n
    cx, cy = centres[:, 0:1], centres[:, 1:2]
    inside = (cx > left) & (cx < right) & (cy > top) & (cy < bottom)
    inside &= centres[:, 2:3] == dets[None, :, -1]
    hit = inside.any(0)
    first = inside.argmax(0)
    dets[:, 4] = np.where(hit, (dets[:, 4] * 2 + centres[first, 3]) / 3, -1)
    return dets


def per_class_soft_nms(dets, num_classes, method="gaussian", sigma=0.5, nt=0.5,
                       threshold=0.001, keep_stale_rows=False, merge_weight_exp=None,
                       max_per_image=100):  # fmt: skip
    """Official per-class soft-NMS on valid rows ``dets`` (M, 8: x1, y1, x2, y2, score, s_tl,
    s_br, cls), then the ``max_per_image`` best scores (ties at the cut all kept, as officially).
    Returns ``(boxes (R, 4), scores (R,), classes (R,))`` numpy."""
    boxes, scores, classes = [], [], []
    for c in range(num_classes):
        rows = dets[dets[:, -1] == c][:, :7]
        if len(rows) == 0:
            continue
        kept = soft_nms(rows, sigma, nt, threshold, method, keep_stale_rows, merge_weight_exp)
        boxes.append(kept[:, :4])
        scores.append(kept[:, 4])
        classes.append(np.full(len(kept), c, np.int64))
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    boxes, scores, classes = np.concatenate(boxes), np.concatenate(scores), np.concatenate(classes)
    if len(scores) > max_per_image:
        kth = len(scores) - max_per_image
        keep = scores >= np.partition(scores, kth)[kth]
        boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
    return boxes, scores, classes
