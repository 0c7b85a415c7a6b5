"""Soft-NMS (Bodla et al., 2017) as CornerNet / CenterNet-Triplet run it (``external/nms.pyx`` of
princeton-vl/CornerNet), in numpy: same selection order, same "+1" box areas, float32 scores,
and optionally the official "stale rows" and the ``soft_nms_merge`` box voting.

The official function works in place on an (N, ≥5) float32 array ``[x1, y1, x2, y2, score,
...]`` and returns the indices to keep, which the official test code **ignores**: it keeps all N
rows, so boxes whose score fell below the threshold stay in the results as stale copies of other
rows (princeton-vl/CornerNet#100, CornerNet-Lite#150). ``keep_stale_rows=True`` returns that
array (for bit-faithful official evaluation); the default returns the kept rows only.
"""

import numpy as np

__all__ = ["soft_nms"]

_METHODS = {"linear": 1, "gaussian": 2, "hard": 0}


def _weights(top, boxes, method, sigma, nt):
    """Official weights of ``boxes`` (M, 4) against ``top`` (4,), float32; ``overlap`` marks the
    boxes the official loop touches (+1 intersection width and height both > 0)."""
    f = np.float32
    iw = np.minimum(top[2], boxes[:, 2]) - np.maximum(top[0], boxes[:, 0]) + f(1)
    ih = np.minimum(top[3], boxes[:, 3]) - np.maximum(top[1], boxes[:, 1]) + f(1)
    overlap = (iw > 0) & (ih > 0)
    area = (boxes[:, 2] - boxes[:, 0] + f(1)) * (boxes[:, 3] - boxes[:, 1] + f(1))
    ua = (top[2] - top[0] + f(1)) * (top[3] - top[1] + f(1)) + area - iw * ih
    with np.errstate(divide="ignore", invalid="ignore"):
        ov = np.where(overlap, iw * ih / ua, f(0)).astype(np.float32)
    if method == 2:
        w = np.exp((-(ov * ov) / f(sigma)).astype(np.float64)).astype(np.float32)
    elif method == 1:
        w = np.where(ov > nt, f(1) - ov, f(1)).astype(np.float32)
    else:
        w = np.where(ov > nt, f(0), f(1)).astype(np.float32)
    return np.where(overlap, w, f(1)), overlap


def soft_nms(dets, sigma=0.5, nt=0.3, threshold=0.001, method="gaussian", keep_stale_rows=False,
             merge_weight_exp=None):  # fmt: skip
    """Soft-NMS of ``dets`` (N, ≥5) ``[x1, y1, x2, y2, score, ...]`` (not modified).

    ``method``: "gaussian" (score × exp(-IoU² / sigma)), "linear" (× (1 - IoU) above ``nt``) or
    "hard" (removed above ``nt``). A box whose score falls below ``threshold`` is removed by
    moving the last active row into its place, as the official loop does; only columns 0-4 move
    (extra columns stay with their row position, as officially). ``merge_weight_exp`` (official
    ``soft_nms_merge``, used for multi-scale testing): each selected box becomes the average of
    itself and the boxes it suppresses, weighted by their corner scores (columns 5 and 6 for
    the top-left / bottom-right coordinates) × (1 - weight)^merge_weight_exp.

    Returns the kept rows in selection order, or with ``keep_stale_rows`` the whole N-row array
    as the official function leaves it (kept rows first, then stale rows).
    """
    if method not in _METHODS:
        raise ValueError(f"soft-NMS method must be one of {sorted(_METHODS)}, got {method!r}")
    dets = np.array(dets, dtype=np.float32, copy=True)
    if dets.ndim != 2 or dets.shape[1] < (7 if merge_weight_exp is not None else 5):
        raise ValueError(f"soft-NMS needs rows [x1, y1, x2, y2, score(, s_tl, s_br)], got "
                         f"shape {dets.shape}")  # fmt: skip
    code = _METHODS[method]
    rows = dets[:, :5]  # the columns the official loop moves
    n = len(rows)
    for i in range(n):
        if i >= n:
            break
        m = i + int(np.argmax(rows[i:n, 4]))
        rows[[i, m]] = rows[[m, i]]
        top = rows[i].copy()
        seg = rows[i + 1 : n]
        old = seg[:, 4].copy()
        w, overlap = _weights(top, seg[:, :4], code, sigma, nt)
        seg[:, 4] = np.where(overlap, w * old, old)
        if merge_weight_exp is not None:
            coords = seg[:, :4].copy()
            where = np.arange(i + 1, n)  # where each box is processed: its row or where it moves
        # officially only a box the top box touches is tested against the threshold
        below = overlap & (seg[:, 4] < threshold)
        for q in np.flatnonzero(below) + i + 1:
            if q >= n:
                break
            while True:
                last = n - 1
                n -= 1
                if q == last:
                    break
                moved_old = old[last - i - 1]
                rows[q] = rows[last]  # processed at q: the weighted score
                rows[last, 4] = moved_old  # the stale row keeps its unweighted score
                if merge_weight_exp is not None:
                    where[last - i - 1] = q
                if not below[last - i - 1]:
                    break
        if merge_weight_exp is not None:
            # the corner-score-weighted vote of the box and every box it overlaps (columns 5/6
            # are read at the row where each box is processed, as officially)
            mw = np.where(overlap, (1 - w) ** merge_weight_exp, 0).astype(np.float32)
            boxes = np.concatenate([top[None, :4], coords])
            wt = np.concatenate([dets[i : i + 1, 5], dets[where, 5] * mw])
            wb = np.concatenate([dets[i : i + 1, 6], dets[where, 6] * mw])
            rows[i, 0:2] = (boxes[:, 0:2] * wt[:, None]).sum(0) / wt.sum()
            rows[i, 2:4] = (boxes[:, 2:4] * wb[:, None]).sum(0) / wb.sum()
    return dets if keep_stale_rows else dets[:n]
