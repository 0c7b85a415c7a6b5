"""From ``pred_densepose`` (the chart output contract: ``coarse_segm``, ``fine_segm``, ``u``, ``v``
maps on the box grid, N×C×S×S) to per-pixel (I, U, V) in image coordinates.

For a box ``(x0, y0, x1, y1)``, the integer box is ``int(x0), int(y0)`` with width / height
``max(int(x1 - x0), 1)`` / ``max(int(y1 - y0), 1)``; the four maps are resized bilinearly
(``align_corners=False``) to it, ``I = argmax(fine) * (argmax(coarse) > 0)`` and U, V are read
from channel ``I`` (0 where ``I = 0``), as detectron2's DensePose chart result converter does.
"""

from typing import List, Tuple

import torch
import torch.nn.functional as F

from ..layers.paste import clip_window

__all__ = ["integer_box", "densepose_to_iuv", "densepose_masks"]


def integer_box(box) -> Tuple[int, int, int, int]:
    """``(x0, y0, w, h)`` ints of an XYXY box, its width and height computed in float32 as
    detectron2's XYXY -> XYWH conversion of the (float32) predicted boxes does: a float64
    difference can round across an integer where float32's does not."""
    box = torch.as_tensor(box, dtype=torch.float32)
    (x0, y0), (w, h) = box[:2].tolist(), (box[2:] - box[:2]).tolist()
    return int(x0), int(y0), max(int(w), 1), max(int(h), 1)


def densepose_to_iuv(output, boxes: torch.Tensor) -> List[torch.Tensor]:
    """Per instance a float tensor 3×h×w (I, U, V) over its integer box (see module doc)."""
    results = []
    for k, box in enumerate(boxes):
        _, _, w, h = integer_box(box)

        def up(t):
            return F.interpolate(t[k : k + 1], size=(h, w), mode="bilinear", align_corners=False)[0]

        coarse, fine, u, v = (
            up(output.coarse_segm),
            up(output.fine_segm),
            up(output.u),
            up(output.v),
        )
        labels = fine.argmax(dim=0) * (coarse.argmax(dim=0) > 0)
        uu = u.gather(0, labels[None])[0] * (labels > 0)
        vv = v.gather(0, labels[None])[0] * (labels > 0)
        results.append(torch.stack([labels.float(), uu, vv]))
    return results


def densepose_masks(iuv: List[torch.Tensor], boxes: torch.Tensor, height: int, width: int):
    """N×H×W bool masks (``I > 0``) pasted at the integer boxes, cut at the image border."""
    masks = torch.zeros((len(iuv), height, width), dtype=torch.bool)
    for k, (m, box) in enumerate(zip(iuv, boxes)):
        x0, y0, w, h = integer_box(box)
        window = clip_window(x0, y0, w, h, width, height)
        if window is not None:
            masks[k][window[0]] = m[0][window[1]].cpu() > 0
    return masks
