"""YOLACT's post-processing outside the network graph: the one function the eager model and
every exported backend call (``YOLACT.inference``, ``yolact.export``)."""

import torch
from detectron2.structures import Boxes, Instances

from .box_ops import sanitize_coordinates, upsample_masks_in_boxes

__all__ = ["detections_to_instances"]


def detections_to_instances(detections, height: int, width: int) -> Instances:
    """One image's ``YOLACT.detections`` outputs (tensors or numpy arrays, no batch axis:
    boxes (D, 4) relative, scores (D,) with -1 for no detection, classes (D,), cropped masks
    (D, Hp, Wp) [, mask_scores (D,)]) -> ``Instances`` at (height, width): the detections best
    first (ties in slot order), boxes scaled and clamped to the image (official
    ``sanitize_coordinates``), masks resized bilinearly (align_corners=False) and thresholded at
    0.5, ``mask_scores`` (YOLACT++)."""
    boxes, scores, classes, masks, *rest = (torch.as_tensor(d) for d in detections)
    keep = (scores >= 0).nonzero()[:, 0]
    keep = keep[scores[keep].sort(descending=True, stable=True)[1]]  # best first
    boxes, scores, classes, masks = boxes[keep], scores[keep], classes[keep].long(), masks[keep]
    result = Instances((height, width))
    x1, x2 = sanitize_coordinates(boxes[:, 0], boxes[:, 2], width)
    y1, y2 = sanitize_coordinates(boxes[:, 1], boxes[:, 3], height)
    result.pred_boxes = Boxes(torch.stack([x1, y1, x2, y2], 1))
    result.scores = scores
    result.pred_classes = classes
    result.pred_masks = upsample_masks_in_boxes(masks.contiguous(), height, width)
    if rest:
        result.mask_scores = rest[0][keep]
    return result
