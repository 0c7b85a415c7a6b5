"""Test-time transforms per meta-architecture, shared by test mappers and ``Predictor``.

``TEST_AUGMENTATION_REGISTRY`` maps a ``MODEL.META_ARCHITECTURE`` name to a function
``cfg -> list[detectron2.data.transforms.Augmentation]``. Architectures whose official test
transform is not detectron2's shortest-edge resize (e.g. YOLACT's fixed 550×550) register theirs.
"""

import cv2
import numpy as np
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from PIL import Image

__all__ = [
    "TEST_AUGMENTATION_REGISTRY",
    "FixedSizeResize",
    "register_test_augmentation",
    "build_test_augmentation",
]


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


TEST_AUGMENTATION_REGISTRY = {}


def register_test_augmentation(meta_arch):
    def deco(fn):
        TEST_AUGMENTATION_REGISTRY[meta_arch] = fn
        return fn

    return deco


def build_test_augmentation(cfg):
    """The official test transform of ``cfg.MODEL.META_ARCHITECTURE`` (default: detectron2's)."""
    fn = TEST_AUGMENTATION_REGISTRY.get(cfg.MODEL.META_ARCHITECTURE)
    if fn is None:
        return utils.build_augmentation(cfg, is_train=False)
    return fn(cfg)
