"""IUV overlays: fine parts coloured, U and V iso-contours (every 0.25) drawn on the image."""

import numpy as np
import torch
from detectron2.utils.visualizer import ColorMode, Visualizer
from matplotlib import colormaps

from ..evaluation.densepose_results import densepose_to_iuv, integer_box
from ..layers.paste import clip_window

__all__ = ["draw_densepose_iuv", "strip_masks", "draw_predictions"]


def _contours(values: np.ndarray, inside: np.ndarray, step: float = 0.25) -> np.ndarray:
    """Pixels where ``floor(values / step)`` changes to the right or below, inside the body."""
    level = np.floor(values / step).astype(int)
    edge = np.zeros_like(inside)
    edge[:, :-1] |= (level[:, :-1] != level[:, 1:]) & inside[:, :-1] & inside[:, 1:]
    edge[:-1, :] |= (level[:-1, :] != level[1:, :]) & inside[:-1, :] & inside[1:, :]
    return edge


def draw_densepose_iuv(rgb: np.ndarray, instances, alpha: float = 0.6) -> np.ndarray:
    """``rgb`` (H×W×3 uint8) with each instance's parts blended in (tab20 colours by part) and
    its U (white) and V (black) contours; instances need ``pred_boxes`` and ``pred_densepose``."""
    out = rgb.astype(np.float32).copy()
    height, width = rgb.shape[:2]
    boxes = instances.pred_boxes.tensor.cpu()
    colors = np.asarray(colormaps["tab20"].colors) * 255
    for iuv, box in zip(densepose_to_iuv(instances.pred_densepose.to("cpu"), boxes), boxes):
        x0, y0, w, h = integer_box(box)
        window = clip_window(x0, y0, w, h, width, height)
        if window is None:
            continue
        part, u, v = (t[window[1]].numpy() for t in iuv)
        inside = part > 0
        patch = out[window[0]]
        tint = colors[(part.astype(int) - 1) % len(colors)]
        patch[inside] = (1 - alpha) * patch[inside] + alpha * tint[inside]
        patch[_contours(u, inside)] = 255
        patch[_contours(v, inside)] = 0
    return np.clip(out, 0, 255).astype(np.uint8)


def strip_masks(instances):
    """The instances without ``pred_masks`` (drawn as IUV instead)."""
    out = instances[torch.arange(len(instances))]
    if out.has("pred_masks"):
        out.remove("pred_masks")
    return out


def draw_predictions(rgb: np.ndarray, predictions: dict, metadata, scale: float):
    """``tools/demo.py``'s drawing of DensePose outputs: the IUV overlay, then detectron2's
    instance drawing without the masks. None when the instances carry no ``pred_densepose``."""
    instances = predictions.get("instances")
    if instances is None or not instances.has("pred_densepose"):
        return None
    vis = Visualizer(draw_densepose_iuv(rgb, instances), metadata, scale, ColorMode.IMAGE)
    return vis.draw_instance_predictions(strip_masks(instances)).get_image()
