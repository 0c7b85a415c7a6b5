"""DensePose chart losses (paper form), as detectron2's DensePose project computes them.

For each selected proposal (box ``(x0, y0, w, h)``, maps S×S) and its GT box ``(X0, Y0, W, H)``:

- a GT point ``(x, y)`` (0..256 in the GT box) lies at ``X0 + x W / 256`` in the image and at
  ``g = (X0 + x W / 256 - x0) S / w`` on the proposal grid; it is used when
  ``0 <= X0 + x W / 256 - x0 < w`` (same for y). Bilinear taps: ``lo = clamp(floor(g), 0, S-1)``,
  ``hi = min(lo + 1, S-1)``, weight ``min(g, hi) - lo``;
- ``loss_densepose_I`` = cross-entropy of the interpolated fine-part logits (mean over points)
  × ``PART_WEIGHTS``;
- ``loss_densepose_U`` / ``_V`` = smooth-L1 (β = 1) **sum** over the points of the U / V map of
  the point's GT part, interpolated, × ``POINT_REGRESSION_WEIGHTS``;
- ``loss_densepose_S`` = cross-entropy (mean over the S×S cells) of the coarse segmentation
  against the GT 256×256 part map resampled from the GT box to the proposal box (nearest,
  zeros outside; cell ``k`` samples at ``x0 + k w / S``), binarised with 2 channels,
  × ``INDEX_WEIGHTS``; 0 when any selected instance has no part map.

Without any selected proposal or any usable point, each loss is ``0 × sum(outputs)`` (keeps the
graph). These equal detectron2's DensePose ``DensePoseChartLoss`` (a test checks recorded
upstream values).
"""

from typing import List

import torch
import torch.nn.functional as F
from detectron2.structures import Instances

from .heads import DensePoseUVOutput

__all__ = ["densepose_uv_losses", "point_interpolation", "resample_segm"]


def _axis(v_norm, v0_gt, size_gt, v0_est, size_est, size_z):
    v = v0_gt + v_norm * size_gt / 256.0
    valid = (v - v0_est >= 0) & (v - v0_est < size_est)
    grid = (v - v0_est) * size_z / size_est
    lo = grid.floor().long().clamp(min=0, max=size_z - 1)
    hi = (lo + 1).clamp(max=size_z - 1)
    weight = torch.minimum(hi.float(), grid) - lo.float()
    return lo, hi, weight, valid


def point_interpolation(x, y, box_gt, box_est, size: int):
    """Bilinear taps of GT points on the proposal grid: ``(x_lo, x_hi, y_lo, y_hi, weights
    (4 per point: ylo-xlo, ylo-xhi, yhi-xlo, yhi-xhi), valid)``; boxes are per-point XYWH."""
    x_lo, x_hi, x_w, x_valid = _axis(
        x, box_gt[:, 0], box_gt[:, 2], box_est[:, 0], box_est[:, 2], size
    )
    y_lo, y_hi, y_w, y_valid = _axis(
        y, box_gt[:, 1], box_gt[:, 3], box_est[:, 1], box_est[:, 3], size
    )
    weights = torch.stack(
        [(1 - x_w) * (1 - y_w), x_w * (1 - y_w), (1 - x_w) * y_w, x_w * y_w], dim=1
    )
    return x_lo, x_hi, y_lo, y_hi, weights, x_valid & y_valid


def _sample(z, box_index, channel, x_lo, x_hi, y_lo, y_hi, w):
    """Bilinear values of maps z (N×C×S×S) at the taps; ``channel``: index per point (-> K) or
    ``slice(None)`` (-> K×C)."""
    corners = ((y_lo, x_lo), (y_lo, x_hi), (y_hi, x_lo), (y_hi, x_hi))
    values = [z[box_index, channel, yy, xx] for yy, xx in corners]
    return sum(val * w[:, k].view(-1, *[1] * (val.dim() - 1)) for k, val in enumerate(values))


def resample_segm(segm, box_gt, box_est, size: int):
    """GT part maps (N×256×256 over the GT boxes) sampled on the proposals' S×S grids (nearest,
    0 outside the GT box); boxes XYWH."""
    n = len(segm)
    x0 = 2 * (box_est[:, 0] - box_gt[:, 0]) / box_gt[:, 2] - 1
    y0 = 2 * (box_est[:, 1] - box_gt[:, 1]) / box_gt[:, 3] - 1
    x1 = 2 * (box_est[:, 0] + box_est[:, 2] - box_gt[:, 0]) / box_gt[:, 2] - 1
    y1 = 2 * (box_est[:, 1] + box_est[:, 3] - box_gt[:, 1]) / box_gt[:, 3] - 1
    steps = torch.arange(size, device=segm.device, dtype=torch.float32) / size
    gx = (x0[:, None] + steps[None] * (x1 - x0)[:, None])[:, None, :].expand(n, size, size)
    gy = (y0[:, None] + steps[None] * (y1 - y0)[:, None])[:, :, None].expand(n, size, size)
    grid = torch.stack([gx, gy], dim=3)
    out = F.grid_sample(
        segm[:, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=True
    )
    return out[:, 0].long()


def _xywh(boxes):
    b = boxes.tensor
    return torch.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], dim=1)


def densepose_uv_losses(
    outputs: DensePoseUVOutput,
    proposals: List[Instances],
    w_segm: float,
    w_part: float,
    w_points: float,
):
    """The four DensePose losses of the selected proposals (``proposal_boxes``, ``gt_boxes``,
    ``gt_densepose``), in the order of ``outputs``."""
    size = outputs.u.shape[-1]
    zero = (
        outputs.coarse_segm.sum() + outputs.fine_segm.sum() + outputs.u.sum() + outputs.v.sum()
    ) * 0
    targets = [t for p in proposals for t in p.gt_densepose] if proposals else []
    if not targets:
        return {f"loss_densepose_{k}": zero for k in "IUVS"}
    box_est = torch.cat([_xywh(p.proposal_boxes) for p in proposals])
    box_gt = torch.cat([_xywh(p.gt_boxes) for p in proposals])
    counts = torch.as_tensor([len(t.x) for t in targets], device=box_est.device)
    box_index = torch.repeat_interleave(torch.arange(len(targets), device=box_est.device), counts)
    x = torch.cat([t.x for t in targets])
    y = torch.cat([t.y for t in targets])
    i = torch.cat([t.i for t in targets])
    u = torch.cat([t.u for t in targets])
    v = torch.cat([t.v for t in targets])
    x_lo, x_hi, y_lo, y_hi, w, valid = point_interpolation(
        x, y, box_gt[box_index], box_est[box_index], size
    )
    taps = (x_lo, x_hi, y_lo, y_hi, w)
    fg = valid & (i > 0)
    if not fg.any():
        return {f"loss_densepose_{k}": zero for k in "IUVS"}
    fine = _sample(outputs.fine_segm, box_index, slice(None), *taps)[valid]
    losses = {"loss_densepose_I": F.cross_entropy(fine, i[valid]) * w_part}
    for name, z, gt in (("U", outputs.u, u), ("V", outputs.v, v)):
        est = _sample(z, box_index, i, *taps)[fg]
        losses[f"loss_densepose_{name}"] = F.smooth_l1_loss(est, gt[fg], reduction="sum") * w_points
    if any(t.segm is None for t in targets):
        losses["loss_densepose_S"] = zero
        return losses
    segm = resample_segm(torch.stack([t.segm for t in targets]), box_gt, box_est, size)
    if outputs.coarse_segm.shape[1] == 2:
        segm = (segm > 0).long()
    losses["loss_densepose_S"] = F.cross_entropy(outputs.coarse_segm, segm) * w_segm
    return losses
