"""``tools/demo.py``'s drawing of super-resolution outputs: LR | bicubic | SR side by side."""

import cv2
import numpy as np

__all__ = ["draw_super_resolution"]


def draw_super_resolution(rgb, predictions, metadata, scale):
    """The input ``rgb`` (H×W×3 uint8, low resolution) enlarged to the output's size by pixel
    replication (its pixels stay visible) and by bicubic interpolation, beside the model's
    ``predictions["image"]`` ((3, s·H, s·W) 0..255). ``scale`` (the demo's enlargement of the
    input, to a readable size) is divided by s, the output being s times larger already; the
    row is enlarged by what remains (pixel replication), if above 1. None when the output has
    no ``"image"``."""
    image = predictions.get("image")
    if image is None:
        return None
    out = image.detach().cpu().round().clamp(0, 255).numpy().astype(np.uint8).transpose(1, 2, 0)
    height, width = out.shape[:2]
    nearest = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_NEAREST)
    bicubic = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_CUBIC)
    row = np.concatenate([nearest, bicubic, out], 1)
    scale = scale * rgb.shape[0] / height
    if scale > 1:
        row = cv2.resize(row, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    return row
