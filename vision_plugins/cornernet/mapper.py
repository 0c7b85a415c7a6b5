"""The official CornerNet / CenterNet-Triplet training sampling (princeton-vl/CornerNet
``sample/coco.py::kp_detection``) as detectron2 ``Augmentation`` / ``Transform`` objects, so that
the boxes follow the image.

The steps, in the official order:

1. :class:`RandomCanvasCrop` -> :class:`CanvasCropTransform`: a scale ``s`` from
   ``INPUT.CORNERNET.RAND_SCALES``, a crop of ``int(INPUT_SIZE * s)`` pixels around a centre
   drawn inside the image minus a border (``BORDER``, halved until the image leaves room for
   it), placed on a zero canvas with the centre in the middle. Without ``RAND_CROP``: the whole
   image at the centre of a square zero canvas of its longer side.
2. :class:`CvResizeTransform`: the canvas resized to INPUT_SIZE² (OpenCV bilinear).
3. :class:`RandomPixelFlip` -> :class:`PixelHFlipTransform`: with probability 1/2, a
   horizontal flip with the official pixel-index convention ``x -> W - 1 - x``.
4. :class:`ColorLighting` -> :class:`ColorLightingTransform` (``RAND_COLOR``): on the image
   / 255, brightness, contrast and saturation (factors ``1 + U(-COLOR_VAR, COLOR_VAR)``) in a
   random order, then (``LIGHTING``) the AlexNet PCA lighting with the official COCO
   eigenvalues / eigenvectors; the result times 255 (float32). The model normalises it.

The boxes are clipped to [0, W - 1] x [0, H - 1] and the ones left with no width or height are
dropped (the official ``_clip_detections``; clipping before or after the flip is the same, the
flip maps that range onto itself). An image may end with no box: it is kept, as officially.

Random draws, in the official order: ``np.random.choice(scales)``, ``np.random.randint`` for
the centre x then y, ``np.random.uniform() > 0.5`` for the flip (NumPy's global generator, as
officially); Python's ``random.shuffle`` of the three colour operations; then, from NumPy's
global generator (the official code uses a ``RandomState`` of its own, ``data_rng``), one
``uniform(-var, var)`` per operation in the shuffled order and ``normal(scale=LIGHTING_STD,
size=3)``.
"""

import copy
import random

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import Boxes, BoxMode, Instances

from ..data.mappers import DatasetMapper
from ..data.photometric import PCA_EIGEN_VALUES, PCA_EIGEN_VECTORS, crop_border, jitter_and_light

__all__ = [
    "CanvasCropTransform",
    "ColorLighting",
    "ColorLightingTransform",
    "CornerNetMapper",
    "CvResizeTransform",
    "PixelHFlipTransform",
    "RandomCanvasCrop",
    "RandomPixelFlip",
    "build_cornernet_augmentation",
    "crop_border",
]


class CanvasCropTransform(T.Transform):
    """The ``width`` x ``height`` window centred at pixel (``ctx``, ``cty``) of a ``img_w`` x
    ``img_h`` image, on a zero canvas: the window's half sizes are ``width // 2`` and
    ``height // 2`` (the part outside the image stays 0; with odd sizes the last column / row
    is 0 too, as officially). Coordinates are shifted by (width // 2 - ctx, height // 2 -
    cty)."""

    def __init__(self, ctx, cty, width, height, img_w, img_h):
        super().__init__()
        self._set_attributes(locals())

    def _window(self):
        w2, h2 = self.width // 2, self.height // 2
        x0, x1 = max(self.ctx - w2, 0), min(self.ctx + w2, self.img_w)
        y0, y1 = max(self.cty - h2, 0), min(self.cty + h2, self.img_h)
        dx, dy = w2 - self.ctx, h2 - self.cty
        return x0, x1, y0, y1, dx, dy

    def apply_image(self, img, fill=0):
        x0, x1, y0, y1, dx, dy = self._window()
        out = np.full((self.height, self.width) + img.shape[2:], fill, dtype=img.dtype)
        out[y0 + dy : y1 + dy, x0 + dx : x1 + dx] = img[y0:y1, x0:x1]
        return out

    def apply_segmentation(self, segmentation):
        return self.apply_image(segmentation, fill=0)

    def apply_coords(self, coords):
        coords = np.asarray(coords, dtype=np.float64).copy()
        coords[:, 0] += self.width // 2 - self.ctx
        coords[:, 1] += self.height // 2 - self.cty
        return coords


class RandomCanvasCrop(T.Augmentation):
    """The official ``random_crop`` (``rand_crop``) or ``_full_image_crop`` (otherwise) as a
    :class:`CanvasCropTransform`; see the module doc."""

    def __init__(self, scales, input_size=511, border=128, rand_crop=True):
        super().__init__()
        self._init(locals())

    def get_transform(self, image):
        h, w = image.shape[:2]
        if not self.rand_crop:
            side = max(h, w)
            return CanvasCropTransform(w // 2, h // 2, side, side, w, h)
        scale = np.random.choice(self.scales)
        ch, cw = int(self.input_size * scale), int(self.input_size * scale)
        wb, hb = crop_border(self.border, w), crop_border(self.border, h)
        ctx = int(np.random.randint(low=wb, high=w - wb))
        cty = int(np.random.randint(low=hb, high=h - hb))
        return CanvasCropTransform(ctx, cty, cw, ch, w, h)


class CvResizeTransform(T.ResizeTransform):
    """detectron2's ``ResizeTransform`` with the image resized by OpenCV (bilinear, as the
    official ``cv2.resize``); coordinates scale by new / old size."""

    def __init__(self, h, w, new_h, new_w):
        super().__init__(h, w, new_h, new_w)

    def apply_image(self, img, interp=None):
        import cv2

        out = cv2.resize(img, (self.new_w, self.new_h), interpolation=cv2.INTER_LINEAR)
        return out.reshape(out.shape[:2] + img.shape[2:])

    def apply_segmentation(self, segmentation):
        import cv2

        return cv2.resize(segmentation, (self.new_w, self.new_h), interpolation=cv2.INTER_NEAREST)


class PixelHFlipTransform(T.HFlipTransform):
    """Horizontal flip; coordinates ``x -> width - 1 - x`` (the official pixel-index rule;
    detectron2's ``HFlipTransform`` uses ``width - x``)."""

    def apply_coords(self, coords):
        coords = np.asarray(coords, dtype=np.float64).copy()
        coords[:, 0] = self.width - 1 - coords[:, 0]
        return coords


class RandomPixelFlip(T.Augmentation):
    """A :class:`PixelHFlipTransform` when ``np.random.uniform() > 0.5`` (the official draw)."""

    def get_transform(self, image):
        if np.random.uniform() > 0.5:
            return PixelHFlipTransform(image.shape[1])
        return T.NoOpTransform()


# the official COCO PCA (princeton-vl/CornerNet db/coco.py), shared with CenterNet
EIG_VAL, EIG_VEC = PCA_EIGEN_VALUES, PCA_EIGEN_VECTORS


class ColorLightingTransform(T.Transform):
    """The official ``color_jittering_`` + ``lighting_`` with the draws fixed, on the image / 255
    (float32), returned times 255. ``order``: the operations ("brightness", "contrast",
    "saturation") and their factors ``alphas``: brightness ``x *= a``; contrast ``x = a x + (1
    - a) mean(gray)``; saturation ``x = a x + (1 - a) gray``; the gray image (OpenCV) is
    computed once, before the first operation. Then, if ``lighting`` (3,) is not None, ``x +=
    eig_vec @ (eig_val * lighting)`` (rows of ``eig_vec`` in BGR order; reversed for
    ``image_format`` "RGB"). No clipping. Geometry unchanged."""

    def __init__(self, order, alphas, lighting, eig_val, eig_vec, image_format="BGR"):
        super().__init__()
        self._set_attributes(locals())

    def apply_image(self, img):
        x = np.array(img, dtype=np.float32) / 255.0
        args = (self.lighting, self.eig_val, self.eig_vec, self.image_format)
        return jitter_and_light(x, self.order, self.alphas, *args) * 255.0

    def apply_coords(self, coords):
        return coords

    def apply_segmentation(self, segmentation):
        return segmentation


class ColorLighting(T.Augmentation):
    """Random :class:`ColorLightingTransform`: a ``random.shuffle`` of the three operations,
    ``np.random.uniform(-var, var)`` per operation (factor 1 + that), then, if ``lighting``,
    ``np.random.normal(scale=lighting_std, size=3)``."""

    def __init__(self, var=0.4, lighting=True, lighting_std=0.1, eig_val=EIG_VAL,
                 eig_vec=EIG_VEC, image_format="BGR"):  # fmt: skip
        super().__init__()
        self._init(locals())

    def get_transform(self, image):
        order = ["brightness", "contrast", "saturation"]
        random.shuffle(order)
        alphas = [1.0 + np.random.uniform(low=-self.var, high=self.var) for _ in order]
        light = None
        if self.lighting:
            light = np.random.normal(scale=self.lighting_std, size=(3,))
        return ColorLightingTransform(
            order, alphas, light, self.eig_val, self.eig_vec, self.image_format
        )


def build_cornernet_augmentation(cfg):
    """The official training sampling from ``INPUT.CORNERNET`` (see the module doc)."""
    c = cfg.INPUT.CORNERNET
    size = c.INPUT_SIZE
    augs = [
        RandomCanvasCrop(list(c.RAND_SCALES), size, c.BORDER, c.RAND_CROP),
        _FixedResize(size),
    ]
    if c.FLIP:
        augs.append(RandomPixelFlip())
    if c.RAND_COLOR:
        augs.append(
            ColorLighting(c.COLOR_VAR, c.LIGHTING, c.LIGHTING_STD, list(c.EIG_VAL),
                          [list(r) for r in c.EIG_VEC], cfg.INPUT.FORMAT)  # fmt: skip
        )
    return augs


class _FixedResize(T.Augmentation):
    def __init__(self, size):
        super().__init__()
        self.size = size

    def get_transform(self, image):
        h, w = image.shape[:2]
        return CvResizeTransform(h, w, self.size, self.size)


class CornerNetMapper(DatasetMapper):
    """The project's ``DatasetMapper`` with, in training, the official CornerNet sampling
    (:func:`build_cornernet_augmentation`): ``instances`` with ``gt_boxes`` (clipped to the
    INPUT_SIZE² image, boxes without width or height dropped) and ``gt_classes`` of the
    annotations (crowd ones too unless ``INPUT.CORNERNET.CROWD_AS_OBJECTS`` is off); the image
    float32 (0-255 scale, not normalised) when RAND_COLOR is on. Test mode: the project's
    ``DatasetMapper`` with the test transform (unchanged)."""

    @configurable
    def __init__(self, is_train, *, cornernet_augmentations=None, crowd_as_objects=False, **kwargs):
        super().__init__(is_train, **kwargs)
        self.cornernet_augmentations = (
            T.AugmentationList(cornernet_augmentations) if cornernet_augmentations else None
        )
        self.crowd_as_objects = crowd_as_objects

    @classmethod
    def from_config(cls, cfg, is_train=True):
        ret = super().from_config(cfg, is_train)
        if is_train:
            ret["cornernet_augmentations"] = build_cornernet_augmentation(cfg)
            ret["crowd_as_objects"] = cfg.INPUT.CORNERNET.CROWD_AS_OBJECTS
        return ret

    def __call__(self, dataset_dict):
        if not (self.is_train and self.cornernet_augmentations is not None):
            return super().__call__(dataset_dict)
        dataset_dict = copy.deepcopy(dataset_dict)
        image = utils.read_image(dataset_dict["file_name"], format=self.image_format)
        utils.check_image_size(dataset_dict, image)
        annos = dataset_dict.pop("annotations", [])
        if not self.crowd_as_objects:
            annos = [a for a in annos if not a.get("iscrowd", 0)]
        boxes = [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in annos]
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        aug_input = T.AugInput(image, boxes=boxes)
        self.cornernet_augmentations(aug_input)
        image = aug_input.image
        h, w = image.shape[:2]
        boxes, keep = clip_boxes(aug_input.boxes, w, h)
        inst = Instances((h, w))
        inst.gt_boxes = Boxes(torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4))
        classes = [a["category_id"] for a, k in zip(annos, keep) if k]
        inst.gt_classes = torch.as_tensor(classes, dtype=torch.int64)
        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        dataset_dict["instances"] = inst
        dataset_dict.pop("sem_seg_file_name", None)
        return dataset_dict


def clip_boxes(boxes, width, height):
    """The official ``_clip_detections``: ``boxes`` (N, 4) xyxy clipped to [0, width - 1] x [0,
    height - 1]; returns the boxes with positive width and height and the keep mask."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, width - 1)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, height - 1)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes[keep], keep
