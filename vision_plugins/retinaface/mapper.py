"""RetinaFace data: the reference training augmentation and the untouched test input.

Training (reference ``preproc``, re-implemented): a random square crop whose side is 0.3, 0.45,
0.6, 0.8 or 1.0 × the short side, kept when at least one face lies fully inside; faces are kept
when their centre is inside, boxes clipped and landmarks clamped to the crop (up to 250 tries,
else the whole image, padded to a square with the mean colour); photometric distortion
(brightness ±32, contrast ×0.5-1.5, saturation ×0.5-1.5, hue ±18, in the reference's random
order); horizontal mirror (p 0.5) swapping eyes and mouth corners; resize to INPUT.RETINAFACE
.IMAGE_SIZE² with a random interpolation. Test: the image at its own size (no resize, no
padding), as the reference evaluates WIDER FACE.
"""

import cv2
import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.structures import Boxes, BoxMode, Instances, Keypoints

from ..data.image_io import read_image

__all__ = ["RetinaFaceMapper", "random_square_crop", "distort", "mirror"]

_SCALES = (0.3, 0.45, 0.6, 0.8, 1.0)
_INTERP = (cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_AREA, cv2.INTER_NEAREST, cv2.INTER_LANCZOS4)
# eyes and mouth corners swap under a horizontal flip (FACE_KEYPOINT_NAMES order)
FLIP_ORDER = [1, 0, 2, 4, 3]


def random_square_crop(image, boxes, points, rng, tries=250):
    """``(image, boxes, points, keep, padded)``; ``keep`` indexes the kept faces; ``padded`` is
    True when no crop was accepted (the whole image is used and must be padded to a square)."""
    h, w = image.shape[:2]
    short = min(h, w)
    for _ in range(tries):
        side = int(_SCALES[rng.integers(len(_SCALES))] * short)
        left = 0 if w == side else int(rng.integers(w - side))
        top = 0 if h == side else int(rng.integers(h - side))
        roi = np.array([left, top, left + side, top + side], np.float64)
        inside = (boxes[:, :2] >= roi[:2]).all(1) & (boxes[:, 2:] <= roi[2:]).all(1)
        if not inside.any():
            continue
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        keep = np.where(((roi[:2] < centres) & (centres < roi[2:])).all(1))[0]
        if len(keep) == 0:
            continue
        b = boxes[keep].copy()
        b[:, :2] = np.maximum(b[:, :2], roi[:2]) - roi[:2]
        b[:, 2:] = np.minimum(b[:, 2:], roi[2:]) - roi[:2]
        p = points[keep].copy()
        p[:, :, :2] = np.clip(p[:, :, :2] - roi[:2], 0, side)
        crop = image[top : top + side, left : left + side]
        return crop, b, p, keep, False
    return image, boxes, points, np.arange(len(boxes)), True


def distort(image, rng):
    """Reference photometric distortion on a uint8 BGR image."""

    def convert(x, alpha=1.0, beta=0.0):
        x[:] = np.clip(x.astype(np.float64) * alpha + beta, 0, 255)

    image = image.copy()
    contrast_first = rng.integers(2)
    if rng.integers(2):
        convert(image, beta=rng.uniform(-32, 32))
    if contrast_first and rng.integers(2):
        convert(image, alpha=rng.uniform(0.5, 1.5))
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    if rng.integers(2):
        convert(hsv[:, :, 1], alpha=rng.uniform(0.5, 1.5))
    if rng.integers(2):
        hsv[:, :, 0] = (hsv[:, :, 0].astype(int) + int(rng.integers(-18, 19))) % 180
    image = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    if not contrast_first and rng.integers(2):
        convert(image, alpha=rng.uniform(0.5, 1.5))
    return image


def mirror(image, boxes, points):
    """Horizontal flip: x -> W - x for boxes and landmarks, eyes / mouth corners swapped."""
    w = image.shape[1]
    boxes = boxes.copy()
    boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
    points = points[:, FLIP_ORDER].copy()
    points[:, :, 0] = w - points[:, :, 0]
    return np.ascontiguousarray(image[:, ::-1]), boxes, points


class RetinaFaceMapper:
    """WIDER-FACE-style dicts (``vision_plugins.data.widerface``) -> RetinaFace inputs with
    ``instances`` (``gt_boxes``, ``gt_classes`` 0, ``gt_keypoints`` (K, 5, 3), v = 0 for faces
    without landmarks) when training."""

    @configurable
    def __init__(self, *, is_train, image_format, image_size, pixel_mean):
        self.is_train, self.image_format = is_train, image_format
        self.image_size, self.pixel_mean = image_size, np.asarray(pixel_mean)

    @classmethod
    def from_config(cls, cfg, is_train=True):
        return {
            "is_train": is_train,
            "image_format": cfg.INPUT.FORMAT,
            "image_size": cfg.INPUT.RETINAFACE.IMAGE_SIZE,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
        }

    def __call__(self, dataset_dict):
        d = dict(dataset_dict)
        image = read_image(d["file_name"], format="BGR")
        utils.check_image_size(d, image)
        out = {k: d[k] for k in ("file_name", "image_id", "height", "width") if k in d}
        if not self.is_train:
            out["image"] = torch.as_tensor(self._format(image).transpose(2, 0, 1).copy())
            return out
        anns = [a for a in d.get("annotations", []) if not a.get("iscrowd", 0)]
        boxes = np.array(
            [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in anns], np.float64
        ).reshape(-1, 4)
        points = np.array(
            [np.asarray(a.get("keypoints", [0.0] * 15), np.float64).reshape(5, 3) for a in anns]
        ).reshape(-1, 5, 3)
        rng = np.random.default_rng(np.random.randint(2**31))
        padded = True
        if len(boxes):
            image, boxes, points, _, padded = random_square_crop(image, boxes, points, rng)
        image = distort(image, rng)
        if padded:
            h, w = image.shape[:2]
            square = np.empty((max(h, w), max(h, w), 3), image.dtype)
            square[:] = self.pixel_mean
            square[:h, :w] = image
            image = square
        if rng.integers(2):
            image, boxes, points = mirror(image, boxes, points)
        scale = self.image_size / image.shape[0]
        image = cv2.resize(image, (self.image_size,) * 2, interpolation=_INTERP[rng.integers(5)])
        boxes, points = boxes * scale, points.copy()
        points[:, :, :2] *= scale
        inst = Instances((self.image_size, self.image_size))
        inst.gt_boxes = Boxes(torch.as_tensor(boxes, dtype=torch.float32))
        inst.gt_classes = torch.zeros(len(boxes), dtype=torch.long)
        inst.gt_keypoints = Keypoints(torch.as_tensor(points, dtype=torch.float32))
        out["instances"] = inst
        out["image"] = torch.as_tensor(self._format(image).transpose(2, 0, 1).copy())
        return out

    def _format(self, bgr):
        return bgr[:, :, ::-1] if self.image_format == "RGB" else bgr
