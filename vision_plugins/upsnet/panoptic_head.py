"""UPSNet's parameter-free panoptic head and its post-processing (Xiong et al., CVPR 2019, §3.3).

Panoptic logits of one image, over ``S`` stuff classes and ``N`` instances (boxes ``B_i``, classes
``c_i``):

- stuff channels: the semantic logits of the stuff classes, unchanged;
- instance ``i``: ``Y_i = X_i + M_i``, ``X_i`` the semantic logit of thing class ``c_i`` inside
  the integer box of ``B_i`` (zeros outside), ``M_i`` the class-``c_i`` mask logits resized
  bilinearly to that box and pasted into it (zeros outside);
- unknown (only when training keeps a fraction < 1 of the instances): ``max_c X_thing_c -
  max_i X_i``, the max over the stacked box-cropped logits (zeros included), so outside every
  box it equals the largest thing logit.

Integer box of ``(x0, y0, x1, y1)``: ``round(x0), round(y0)`` to ``round(x1), round(y1)``,
at least one pixel wide and high; the part outside the image is cut off after resizing.
"""

from typing import List, Tuple

import torch
import torch.nn.functional as F
from detectron2.modeling.meta_arch.panoptic_fpn import combine_semantic_and_instance_outputs

from ..layers.paste import clip_window

__all__ = [
    "integer_boxes",
    "box_masks",
    "paste_mask_logits",
    "panoptic_logits",
    "mask_matching",
    "mask_removal",
    "vote_relabel",
    "panoptic_segments",
    "heuristic_panoptic",
]

VOID = 255


def integer_boxes(boxes: torch.Tensor) -> torch.Tensor:
    """N×4 long boxes: rounded corners, at least 1 px wide and high."""
    b = torch.round(boxes).long()
    b[:, 2] = torch.maximum(b[:, 2], b[:, 0] + 1)
    b[:, 3] = torch.maximum(b[:, 3], b[:, 1] + 1)
    return b


def box_masks(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """N×H×W bool: inside the integer box."""
    b = integer_boxes(boxes)
    ys = torch.arange(height, device=boxes.device)
    xs = torch.arange(width, device=boxes.device)
    in_y = (ys[None] >= b[:, 1:2]) & (ys[None] < b[:, 3:4])
    in_x = (xs[None] >= b[:, 0:1]) & (xs[None] < b[:, 2:3])
    return in_y[:, :, None] & in_x[:, None, :]


def paste_mask_logits(mask_logits: torch.Tensor, boxes: torch.Tensor, height: int, width: int):
    """N×M×M mask logits -> N×H×W: each resized bilinearly (``align_corners=False``) to its
    integer box and pasted there; zeros outside the box and outside the image."""
    out = mask_logits.new_zeros((len(boxes), height, width))
    for i, (x0, y0, x1, y1) in enumerate(integer_boxes(boxes).tolist()):
        resized = F.interpolate(
            mask_logits[i][None, None],
            size=(y1 - y0, x1 - x0),
            mode="bilinear",
            align_corners=False,
        )[0, 0]
        window = clip_window(x0, y0, x1 - x0, y1 - y0, width, height)
        if window is not None:
            out[i][window[0]] = resized[window[1]]
    return out


def panoptic_logits(
    sem_logits: torch.Tensor,
    boxes: torch.Tensor,
    classes: torch.Tensor,
    pasted_masks: torch.Tensor,
    num_stuff: int,
    with_void: bool,
) -> torch.Tensor:
    """``(S + N [+ 1])×H×W`` panoptic logits from the semantic logits (C×H×W, stuff first), the
    instances' boxes / thing classes and their pasted mask logits (N×H×W, see
    :func:`paste_mask_logits`), all at the resolution of ``sem_logits``."""
    height, width = sem_logits.shape[-2:]
    thing_logits = sem_logits[num_stuff:]
    cropped = thing_logits[classes] * box_masks(boxes, height, width)
    channels = [sem_logits[:num_stuff], cropped + pasted_masks]
    if with_void:
        max_cropped = cropped.max(dim=0).values if len(boxes) else torch.zeros_like(sem_logits[0])
        channels.append((thing_logits.max(dim=0).values - max_cropped)[None])
    return torch.cat(channels)


def mask_matching(
    sem_seg: torch.Tensor, masks: torch.Tensor, num_stuff: int, with_void: bool, ignore: int = VOID
) -> torch.Tensor:
    """Panoptic-head target (H×W long): stuff pixels -> their stuff class, pixels of kept
    instance ``i`` (masks: K×H×W) -> ``S + i``, other thing pixels -> the unknown channel
    ``S + K`` (or ``ignore`` without it), ``ignore`` labels stay ignored."""
    sem = sem_seg.long()
    target = torch.full_like(sem, ignore)
    stuff = sem < num_stuff
    target[stuff] = sem[stuff]
    if with_void:
        target[(sem >= num_stuff) & (sem != ignore)] = num_stuff + len(masks)
    for i, m in enumerate(masks):
        target[m.bool()] = num_stuff + i
    return target


def mask_removal(
    masks: torch.Tensor, classes: torch.Tensor, scores: torch.Tensor, overlap: float
) -> torch.Tensor:
    """Indices (by descending score) of the instances kept: one is dropped when more than
    ``overlap`` of its mask (N×H×W bool) lies inside the earlier kept masks of its own class;
    empty masks are dropped."""
    kept: List[int] = []
    covered = {}
    for i in torch.argsort(scores, descending=True, stable=True).tolist():
        m = masks[i]
        area = int(m.sum())
        cls = int(classes[i])
        union = covered.get(cls)
        inter = int((m & union).sum()) if union is not None else 0
        if area == 0 or inter > overlap * area:
            continue
        kept.append(i)
        covered[cls] = m.clone() if union is None else union | m
    return torch.as_tensor(kept, dtype=torch.long, device=masks.device)


def vote_relabel(
    labels: torch.Tensor,
    sem_pred: torch.Tensor,
    classes: torch.Tensor,
    num_stuff: int,
    thresh: float,
) -> torch.Tensor:
    """UPSNet's unified post-processing vote: for each instance region (``labels == S + i``),
    the majority of the semantic prediction ``sem_pred`` decides; when it is not the instance's
    class and one stuff class holds at least ``thresh`` of the region, the region becomes that
    stuff class. Returns a new label map."""
    out = labels.clone()
    for i, cls in enumerate(classes.tolist()):
        region = labels == num_stuff + i
        area = int(region.sum())
        if area == 0:
            continue
        votes = torch.bincount(sem_pred[region].long(), minlength=num_stuff + cls + 1)
        if int(votes.argmax()) == num_stuff + cls:
            continue
        best = int(votes[:num_stuff].argmax())
        if votes[best] >= thresh * area:
            out[region] = best
    return out


def panoptic_segments(
    labels: torch.Tensor,
    classes: torch.Tensor,
    scores: torch.Tensor,
    num_stuff: int,
    stuff_area_limit: int,
) -> Tuple[torch.Tensor, List[dict]]:
    """detectron2's ``panoptic_seg`` (int32 H×W, 0 = void; segments_info) from a label map over
    ``[stuff..., instances..., VOID]``: one segment per instance with pixels, one per stuff class
    with at least ``stuff_area_limit`` pixels (smaller stuff -> void)."""
    panoptic = torch.zeros(labels.shape, dtype=torch.int32, device=labels.device)
    segments = []
    for i, (cls, score) in enumerate(zip(classes.tolist(), scores.tolist())):
        region = labels == num_stuff + i
        area = int(region.sum())
        if area:
            panoptic[region] = len(segments) + 1
            segments.append(
                {
                    "id": len(segments) + 1,
                    "isthing": True,
                    "category_id": int(cls),
                    "score": float(score),
                    "instance_id": i,
                    "area": area,
                }
            )
    for s in range(num_stuff):
        region = labels == s
        area = int(region.sum())
        if area and area >= stuff_area_limit:
            panoptic[region] = len(segments) + 1
            segments.append(
                {"id": len(segments) + 1, "isthing": False, "category_id": s, "area": area}
            )
    return panoptic, segments


def heuristic_panoptic(instances, sem_logits, num_stuff, overlap, stuff_area, score_thresh):
    """The baseline: detectron2's ``combine_semantic_and_instance_outputs`` (PanopticFPN's
    heuristic) on the same instance and semantic outputs, with the semantic argmax mapped to its
    "things = 0, stuff s = s + 1" convention and back."""
    sem = sem_logits.argmax(dim=0)
    sem = torch.where(sem < num_stuff, sem + 1, torch.zeros_like(sem))
    panoptic, segments = combine_semantic_and_instance_outputs(
        instances, sem, overlap, stuff_area, score_thresh
    )
    for seg in segments:
        if not seg["isthing"]:
            seg["category_id"] -= 1
    return panoptic, segments
