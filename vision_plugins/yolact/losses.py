"""YOLACT training losses, as the official ``MultiBoxLoss`` (dbolya/yolact @902073d).

Per image, anchors are matched to the ground truth (``match_anchors``); then over the batch:

- ``loss_box``: smooth-L1 (beta 1) of the positives' box deltas, summed, x BBOX_ALPHA;
- ``loss_cls``: softmax cross-entropy over the positives and the hardest negatives (OHEM:
  ranked by logsumexp - background logit, NEGPOS_RATIO per positive; neutrals never count),
  summed, x CONF_ALPHA;
- ``loss_mask``: per positive (at most MASKS_TO_TRAIN per image, a random subset, rescaled),
  BCE of sigmoid(prototypes @ coefficients) against the ground-truth mask (bilinearly resized to
  the prototype size, > 0.5), both cropped to the GT box grown by one prototype pixel, summed
  and divided by the GT box area in prototype pixels, x MASK_ALPHA;
- ``loss_maskiou`` (YOLACT++): smooth-L1 between FastMaskIoUNet's IoU for the GT class of each
  cropped predicted mask and its IoU with the ground truth, for GT masks larger than
  DISCARD_AREA prototype pixels, summed, x ALPHA;
- these four are divided by the number of positives in the batch (at least 1: the official code
  divides by zero on a batch without positives);
- ``loss_semseg``: BCE-with-logits of the semantic head against per-class maxima of the resized
  GT masks, summed, / (H W) of the head, x SEMSEG_ALPHA, divided by the batch size.
"""

from dataclasses import dataclass
from typing import List, Optional

import torch
import torch.nn.functional as F

from .box_ops import crop_masks, match_anchors

__all__ = ["YolactLossConfig", "YolactTargets", "yolact_losses"]


@dataclass
class YolactLossConfig:
    pos_iou: float = 0.5
    neg_iou: float = 0.4
    crowd_iof: float = 0.7
    negpos_ratio: int = 3
    bbox_alpha: float = 1.5
    conf_alpha: float = 1.0
    mask_alpha: float = 6.125
    semseg_alpha: float = 1.0
    masks_to_train: int = 100
    maskiou_alpha: float = 25.0
    maskiou_discard_area: float = 25.0


@dataclass
class YolactTargets:
    """One image's ground truth in relative coordinates: ``boxes`` (G, 4) x1y1x2y2 / (W, H),
    ``labels`` (G,) 0-based, ``masks`` (G, H, W) float at network-input resolution,
    ``crowd_boxes`` (Gc, 4)."""

    boxes: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor
    crowd_boxes: Optional[torch.Tensor] = None


def _ohem_conf_loss(conf, conf_t, pos, negpos_ratio):
    num_classes = conf.shape[-1]
    with torch.no_grad():
        batch_conf = conf.reshape(-1, num_classes)
        mining = (torch.logsumexp(batch_conf, 1) - batch_conf[:, 0]).view(pos.shape)
        mining[pos] = 0
        mining[conf_t < 0] = 0
        idx_rank = mining.sort(1, descending=True)[1].sort(1)[1]
        num_neg = (negpos_ratio * pos.long().sum(1, keepdim=True)).clamp(max=pos.shape[1] - 1)
        neg = idx_rank < num_neg
        neg[pos] = False
        neg[conf_t < 0] = False
    selected = pos | neg
    return F.cross_entropy(conf[selected], conf_t[selected], reduction="sum")


def _resized_masks(masks, size):
    """(G, H, W) float masks -> (G, h, w) {0, 1}: bilinear (align_corners=False), > 0.5."""
    if masks.shape[0] == 0:
        return masks.new_zeros((0,) + tuple(size))
    down = F.interpolate(masks[None].float(), size, mode="bilinear", align_corners=False)[0]
    return down.gt(0.5).float()


def yolact_losses(
    loc, conf, coefs, priors, proto, segm, targets: List[YolactTargets], cfg: YolactLossConfig,
    maskiou_net=None,
):  # fmt: skip
    """``loc`` (N, P, 4), ``conf`` (N, P, C+1) logits, ``coefs`` (N, P, k), ``priors`` (P, 4),
    ``proto`` (N, Hp, Wp, k), ``segm`` (N, C, Hs, Ws) logits or None; -> dict of losses."""
    matches = [
        match_anchors(t.boxes, t.labels, priors, t.crowd_boxes, cfg.pos_iou, cfg.neg_iou,
                      cfg.crowd_iof)
        for t in targets
    ]  # fmt: skip
    conf_t = torch.stack([m[0] for m in matches])
    loc_t = torch.stack([m[1] for m in matches])
    idx_t = torch.stack([m[2] for m in matches])
    pos = conf_t > 0
    num_pos = pos.sum().clamp(min=1).float()

    losses = {
        "loss_box": F.smooth_l1_loss(loc[pos], loc_t[pos], reduction="sum") * cfg.bbox_alpha,
        "loss_cls": _ohem_conf_loss(conf, conf_t, pos, cfg.negpos_ratio) * cfg.conf_alpha,
    }
    mask_h, mask_w = proto.shape[1:3]
    loss_m = proto.sum() * 0  # keeps the graph connected when no image has a positive
    iou_inputs, iou_targets, iou_labels = [], [], []
    for i, t in enumerate(targets):
        pos_idx = idx_t[i, pos[i]]
        if pos_idx.numel() == 0:
            continue
        down = _resized_masks(t.masks, (mask_h, mask_w)).permute(1, 2, 0)
        coef = coefs[i, pos[i]]
        old_n = coef.shape[0]
        if old_n > cfg.masks_to_train:
            select = torch.randperm(old_n, device=coef.device)[: cfg.masks_to_train]
            coef, pos_idx = coef[select], pos_idx[select]
        boxes = t.boxes[pos_idx]
        mask_t = down[:, :, pos_idx]
        pred = crop_masks(torch.sigmoid(proto[i] @ coef.t()), boxes)
        if not torch.isfinite(pred).all():  # diverged: binary_cross_entropy would refuse NaN;
            loss_m = loss_m + pred.sum()  # a NaN loss is reported by the trainer (iteration, terms)
            continue
        bce = F.binary_cross_entropy(pred.clamp(0, 1), mask_t, reduction="none")
        box_w = (boxes[:, 2] - boxes[:, 0]) * mask_w
        box_h = (boxes[:, 3] - boxes[:, 1]) * mask_h
        per_mask = bce.sum(dim=(0, 1)) / box_w / box_h
        if old_n > coef.shape[0]:
            per_mask = per_mask * (old_n / coef.shape[0])
        loss_m = loss_m + per_mask.sum()
        if maskiou_net is not None:
            select = mask_t.sum(dim=(0, 1)) > cfg.maskiou_discard_area
            if select.any():
                p, m = pred[:, :, select], mask_t[:, :, select]
                binary = p.gt(0.5).float()
                inter = (binary * m).sum(dim=(0, 1))
                union = binary.sum(dim=(0, 1)) + m.sum(dim=(0, 1)) - inter
                iou_inputs.append(p.permute(2, 0, 1)[:, None])
                iou_targets.append(inter / union)
                iou_labels.append(t.labels[pos_idx][select])
    losses["loss_mask"] = loss_m * cfg.mask_alpha
    if maskiou_net is not None:
        if iou_inputs:
            iou_p = maskiou_net(torch.cat(iou_inputs))
            iou_p = iou_p.gather(1, torch.cat(iou_labels)[:, None]).view(-1)
            loss_i = F.smooth_l1_loss(iou_p, torch.cat(iou_targets), reduction="sum")
        else:  # no mask large enough: a zero that still reaches every parameter (DDP)
            loss_i = sum(p.sum() for p in maskiou_net.parameters()) * 0
        losses["loss_maskiou"] = loss_i * cfg.maskiou_alpha
    for k in losses:
        losses[k] = losses[k] / num_pos
    if segm is not None:
        n, num_classes, seg_h, seg_w = segm.shape
        loss_s = segm.sum() * 0
        for i, t in enumerate(targets):
            down = _resized_masks(t.masks, (seg_h, seg_w))
            seg_t = segm.new_zeros(num_classes, seg_h, seg_w)
            for label, mask in zip(t.labels.tolist(), down):
                seg_t[label] = torch.max(seg_t[label], mask)
            loss_s = loss_s + F.binary_cross_entropy_with_logits(segm[i], seg_t, reduction="sum")
        losses["loss_semseg"] = loss_s / seg_h / seg_w * cfg.semseg_alpha / n
    return losses
