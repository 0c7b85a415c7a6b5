"""The test transform of a config, shared by the evaluation mappers and ``Predictor``.

An architecture declares its official test transform in its spec (``ArchSpec.test_augmentation``,
e.g. YOLACT's fixed 550×550 resize, or ``native_resolution`` for models that scale and pad the
image themselves); otherwise detectron2's shortest-edge resize applies.
"""

import cv2
import numpy as np
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from PIL import Image

from ..spec import spec_for

__all__ = ["FixedSizeResize", "build_test_augmentation", "native_resolution"]


class _CV2ResizeTransform(T.ResizeTransform):
    """``cv2.resize`` (INTER_LINEAR, no antialiasing) of the image as float32; nearest for
    segmentation maps; boxes, polygons and keypoints scaled as ``ResizeTransform`` does."""

    def apply_image(self, img, interp=None):
        assert img.shape[:2] == (self.h, self.w)
        if interp == Image.NEAREST:
            return cv2.resize(img, (self.new_w, self.new_h), interpolation=cv2.INTER_NEAREST)
        return cv2.resize(
            img.astype(np.float32), (self.new_w, self.new_h), interpolation=cv2.INTER_LINEAR
        )


class FixedSizeResize(T.Augmentation):
    """Resize to ``size`` x ``size`` without keeping the aspect ratio, as ``cv2.resize`` does on
    a float image (bilinear, half-pixel centres, no antialiasing): the official test transform
    of e.g. YOLACT (550²). The output image is float32."""

    def __init__(self, size):
        super().__init__()
        self.size = size

    def get_transform(self, image):
        h, w = image.shape[:2]
        return _CV2ResizeTransform(h, w, self.size, self.size)


def native_resolution(cfg):
    """No test transform: the model gets the image at its own size (and scales / pads it
    itself, as e.g. the official CornerNet, CenterNet and RetinaFace test code does)."""
    return []


def build_test_augmentation(cfg):
    """The test transform of ``cfg``'s architecture (its spec's), else detectron2's
    shortest-edge resize (``INPUT.MIN_SIZE_TEST`` / ``MAX_SIZE_TEST``)."""
    spec = spec_for(cfg)
    if spec is None or spec.test_augmentation is None:
        return utils.build_augmentation(cfg, is_train=False)
    return spec.test_augmentation(cfg)
