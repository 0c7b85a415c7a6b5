"""CornerNet / CenterNet-Triplet training targets (official ``sample/coco.py::kp_detection``,
written from its description): per object, corners (and the centre, Triplet) at
``int(coordinate × out / in)`` in the output map, a Gaussian bump of radius
``gaussian_radius(ceil(h × ratio), ceil(w × ratio))`` on its class map, the sub-pixel offset
``coordinate × ratio - int(...)`` and the flat index ``y × W + x`` for the tags and offsets."""

import math

import numpy as np
import torch

from ..layers.center_heatmaps import draw_gaussian, gaussian_radius

__all__ = ["CornerTargets", "batch_targets", "corner_targets"]


class CornerTargets(dict):
    """``tl_heat`` / ``br_heat`` [/ ``ct_heat``] (C, h, w) float32; ``tl_ind`` / ``br_ind``
    [/ ``ct_ind``] (M,) int64 flat indices; ``tl_off`` / ``br_off`` [/ ``ct_off``] (M, 2)."""


def corner_targets(boxes, classes, num_classes, image_hw, out_hw, gaussian_iou=0.3, legacy=False,
                   center=False, center_sigma_div=5.0):  # fmt: skip
    """Targets of one image: ``boxes`` (M, 4) xyxy in input pixels (clipped to the image, empty
    boxes dropped, as the official sampler does), ``classes`` (M,), the (padded) input size
    ``image_hw`` and the output size ``out_hw``. Returns ``CornerTargets`` of numpy arrays."""
    (in_h, in_w), (out_h, out_w) = image_hw, out_hw
    rh, rw = out_h / in_h, out_w / in_w
    kinds = ("tl", "br", "ct") if center else ("tl", "br")
    t = CornerTargets()
    for k in kinds:
        t[k + "_heat"] = np.zeros((num_classes, out_h, out_w), np.float32)
        t[k + "_ind"], t[k + "_off"] = [], []
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, in_w - 1)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, in_h - 1)
    for (x1, y1, x2, y2), cls in zip(boxes, np.asarray(classes).tolist()):
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            continue
        points = {"tl": (x1 * rw, y1 * rh), "br": (x2 * rw, y2 * rh)}
        if center:
            points["ct"] = ((x1 + x2) / 2 * rw, (y1 + y2) / 2 * rh)
        radius = gaussian_radius(math.ceil((y2 - y1) * rh), math.ceil((x2 - x1) * rw),
                                 gaussian_iou, legacy=legacy)  # fmt: skip
        radius = max(0, int(radius))
        for k in kinds:
            fx, fy = points[k]
            ix, iy = int(fx), int(fy)
            draw_gaussian(t[k + "_heat"][cls], (ix, iy), radius,
                          center_sigma_div if k == "ct" else 6)  # fmt: skip
            t[k + "_ind"].append(iy * out_w + ix)
            t[k + "_off"].append((fx - ix, fy - iy))
    for k in kinds:
        t[k + "_ind"] = np.array(t[k + "_ind"], np.int64)
        t[k + "_off"] = np.array(t[k + "_off"], np.float32).reshape(-1, 2)
    return t


def batch_targets(targets, device):
    """Stack per-image ``CornerTargets``: heatmaps (N, C, h, w); indices (N, M) and offsets
    (N, M, 2) padded to the largest object count, with ``mask`` (N, M) bool."""
    n, m = len(targets), max([len(t["tl_ind"]) for t in targets] + [1])
    out = {"mask": torch.zeros(n, m, dtype=torch.bool)}
    for key in targets[0]:
        if key.endswith("_heat"):
            out[key] = torch.from_numpy(np.stack([t[key] for t in targets]))
        elif key.endswith("_ind"):
            out[key] = torch.zeros(n, m, dtype=torch.int64)
        else:
            out[key] = torch.zeros(n, m, 2)
    for i, t in enumerate(targets):
        c = len(t["tl_ind"])
        out["mask"][i, :c] = True
        for key in t:
            if not key.endswith("_heat"):
                out[key][i, :c] = torch.from_numpy(t[key])
    return {k: v.to(device) for k, v in out.items()}
