"""Soft-NMS against a plain reference loop of the official algorithm (in-place selection by swap,
"+1" areas, removal by moving the last active row, extra columns left in place), with and
without the stale rows, and the merge (box voting) variant."""

import math

import numpy as np
import pytest

from vision_plugins.layers.soft_nms import soft_nms


def _reference(boxes, sigma, nt, threshold, method, weight_exp=None):
    """Row-by-row loop, float32 storage. Returns (array as left in place, N kept)."""
    b = np.array(boxes, np.float32)
    n = len(b)
    for i in range(n):
        if i >= n:
            break
        m = i
        for p in range(i + 1, n):
            if b[m, 4] < b[p, 4]:
                m = p
        b[[i, m], :5] = b[[m, i], :5]
        tx1, ty1, tx2, ty2 = (float(v) for v in b[i, :4])
        if weight_exp is not None:
            acc = [tx1 * b[i, 5], ty1 * b[i, 5], tx2 * b[i, 6], ty2 * b[i, 6], b[i, 5], b[i, 6]]
        p = i + 1
        while p < n:
            x1, y1, x2, y2 = (float(v) for v in b[p, :4])
            iw = min(tx2, x2) - max(tx1, x1) + 1
            ih = min(ty2, y2) - max(ty1, y1) + 1
            if iw > 0 and ih > 0:
                ua = (tx2 - tx1 + 1) * (ty2 - ty1 + 1) + (x2 - x1 + 1) * (y2 - y1 + 1) - iw * ih
                ov = iw * ih / ua
                if method == "gaussian":
                    w = math.exp(-ov * ov / sigma)
                elif method == "linear":
                    w = 1 - ov if ov > nt else 1.0
                else:
                    w = 0.0 if ov > nt else 1.0
                if weight_exp is not None:
                    mw = (1 - w) ** weight_exp
                    acc[0] += x1 * b[p, 5] * mw
                    acc[1] += y1 * b[p, 5] * mw
                    acc[2] += x2 * b[p, 6] * mw
                    acc[3] += y2 * b[p, 6] * mw
                    acc[4] += b[p, 5] * mw
                    acc[5] += b[p, 6] * mw
                b[p, 4] = w * b[p, 4]
                if b[p, 4] < threshold:
                    b[p, :5] = b[n - 1, :5]
                    n -= 1
                    p -= 1
            p += 1
        if weight_exp is not None:
            b[i, :4] = [acc[0] / acc[4], acc[1] / acc[4], acc[2] / acc[5], acc[3] / acc[5]]
    return b, n


def _random_boxes(seed, n=60):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 80, (n, 2))
    wh = rng.uniform(5, 40, (n, 2))
    # clusters of near-duplicates so that many scores fall below the threshold
    xy[n // 2 :] = xy[: n - n // 2] + rng.normal(0, 1.5, (n - n // 2, 2))
    scores = rng.uniform(0.001, 1.0, n)
    scores[::7] = scores[1::7][: len(scores[::7])]  # ties
    extra = rng.uniform(0.2, 1.0, (n, 2))
    return np.concatenate([xy, xy + wh, scores[:, None], extra], 1).astype(np.float32)


@pytest.mark.parametrize("method", ["gaussian", "linear", "hard"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_soft_nms_matches_reference_loop(method, seed):
    dets = _random_boxes(seed)
    thr = 0.3  # a high threshold: many removals
    ref, n = _reference(dets, 0.5, 0.5, thr, method)
    kept = soft_nms(dets, 0.5, 0.5, thr, method)
    assert len(kept) == n and n < len(dets)
    np.testing.assert_allclose(kept[:, :5], ref[:n, :5], rtol=1e-5, atol=1e-4)
    stale = soft_nms(dets, 0.5, 0.5, thr, method, keep_stale_rows=True)
    assert len(stale) == len(dets)
    np.testing.assert_allclose(stale, ref, rtol=1e-5, atol=1e-4)
    # the stale rows duplicate boxes: the official "keep ignored" artefact
    boxes = {tuple(r) for r in stale[:, :4].tolist()}
    assert len(boxes) < len(stale)


@pytest.mark.parametrize("seed", [0, 3])
def test_soft_nms_merge_matches_reference_loop(seed):
    dets = _random_boxes(seed)
    ref, n = _reference(dets, 0.5, 0.5, 0.05, "gaussian", weight_exp=10)
    out = soft_nms(dets, 0.5, 0.5, 0.05, "gaussian", keep_stale_rows=True, merge_weight_exp=10)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-3)


def test_soft_nms_hand_case():
    # two 10x10 boxes ("+1" areas) shifted by one pixel: IoU 81 / 119; a distant third box
    dets = np.array([[0, 0, 9, 9, 0.9], [1, 1, 10, 10, 0.8], [50, 50, 60, 60, 0.7]], np.float32)
    iou = 81 / (100 + 100 - 81)
    out = soft_nms(dets, sigma=0.5, threshold=0.001)
    # the decayed second box (0.317) now ranks after the distant one
    np.testing.assert_allclose(out[:, 4], [0.9, 0.7, 0.8 * math.exp(-iou * iou / 0.5)], rtol=1e-6)
    np.testing.assert_array_equal(out[1, :4], [50, 50, 60, 60])
    with pytest.raises(ValueError, match="method"):
        soft_nms(dets, method="cubic")
