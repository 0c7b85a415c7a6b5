"""``tools/demo.py``'s drawing of image-to-image outputs: input | output side by side."""

import cv2
import numpy as np

__all__ = ["draw_translation"]


def draw_translation(rgb, predictions, metadata, scale):
    """``rgb`` (the H×W×3 uint8 input) resized to the output's size, beside the model's
    ``predictions["image"]`` ((C, h, w) 0..255), the pair enlarged by ``scale``. None when the
    output has no ``"image"``."""
    image = predictions.get("image")
    if image is None:
        return None
    out = image.detach().cpu().round().clamp(0, 255).numpy().astype(np.uint8).transpose(1, 2, 0)
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    height, width = out.shape[:2]
    interpolation = cv2.INTER_AREA if rgb.shape[0] > height else cv2.INTER_CUBIC
    pair = np.concatenate([cv2.resize(rgb, (width, height), interpolation=interpolation), out], 1)
    if scale != 1:
        pair = cv2.resize(pair, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    return pair
