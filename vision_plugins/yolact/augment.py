"""The official YOLACT training augmentation (dbolya/yolact ``SSDAugmentation``) as detectron2
``Augmentation`` / ``Transform`` objects, so that boxes, polygon and bitmask masks, keypoints and
crowd boxes follow the image.

The steps, in the official order (``build_ssd_augmentation``):

1. :class:`PhotometricDistort` -> :class:`PhotometricTransform` (image only, float32).
2. :class:`ZoomOut` -> :class:`ExpandTransform` (the image on a canvas filled with the mean).
3. :class:`SSDRandomCrop` -> :class:`SSDCropTransform` (also tells which instances to keep).
4. :class:`RandomMirror` -> detectron2's ``HFlipTransform``.
5. ``FixedSizeResize`` to MAX_SIZE² (the official ``Resize`` + ``Pad``, which is a no-op there).

Random draws: all from NumPy's global generator (``np.random``), as the official code draws
them, in the official order, so that a seeded run makes the same decisions:

- photometric: ``randint(2)`` brightness on? -> ``uniform(-d, d)``; ``randint(2)`` contrast
  before (1) or after (0) the HSV part; [contrast: ``randint(2)`` -> ``uniform(lo, hi)``];
  saturation ``randint(2)`` -> ``uniform(lo, hi)``; hue ``randint(2)`` -> ``uniform(-d, d)``;
  [contrast, when after];
- zoom-out: ``randint(2)`` (1 = no zoom-out), then ``uniform(1, r)`` ratio, ``uniform(0, W r -
  W)`` left, ``uniform(0, H r - H)`` top;
- crop: ``randint(6)`` mode (the official ``random.choice`` of the 6 options draws exactly
  that); then per try ``uniform(0.3 W, W)`` width, ``uniform(0.3 H, H)`` height, and only when
  the aspect ratio passes, ``uniform(W - w)`` left and ``uniform(H - h)`` top;
- mirror: ``randint(2)`` (1 = mirror).
"""

import numpy as np
from detectron2.data import transforms as T

from ..data import FixedSizeResize

__all__ = [
    "BoxAugInput",
    "ExpandTransform",
    "PhotometricDistort",
    "PhotometricTransform",
    "RandomMirror",
    "SSDCropTransform",
    "SSDRandomCrop",
    "ZoomOut",
    "build_ssd_augmentation",
    "discard_small_boxes",
]


class BoxAugInput(T.AugInput):
    """``AugInput`` with the boxes (XYXY_ABS, every annotation, crowds included) and their crowd
    flags, which :class:`SSDRandomCrop` needs; the boxes follow each transform."""

    def __init__(self, image, *, boxes, is_crowd):
        super().__init__(image, boxes=np.asarray(boxes, np.float64).reshape(-1, 4))
        self.is_crowd = np.asarray(is_crowd, bool).reshape(-1)


class PhotometricTransform(T.Transform):
    """The official ``PhotometricDistort`` with its draws fixed. On a float32 copy: ``+
    brightness``; if ``contrast_first``, ``* contrast``; to HSV (OpenCV float: H in degrees,
    S in [0, 1]); ``S *= saturation``; ``H += hue`` wrapped once into [0, 360]; back; if not
    ``contrast_first``, ``* contrast``. A ``None`` parameter is skipped. No clipping (the
    official values may leave [0, 255]). ``image_format`` "RGB" or "BGR" picks the OpenCV
    conversion. Geometry is unchanged."""

    def __init__(self, brightness, contrast, contrast_first, saturation, hue, image_format):
        super().__init__()
        self._set_attributes(locals())

    def apply_image(self, img):
        import cv2

        to_hsv, from_hsv = {
            "RGB": (cv2.COLOR_RGB2HSV, cv2.COLOR_HSV2RGB),
            "BGR": (cv2.COLOR_BGR2HSV, cv2.COLOR_HSV2BGR),
        }[self.image_format]
        im = np.array(img, dtype=np.float32)
        if self.brightness is not None:
            im += self.brightness
        if self.contrast_first and self.contrast is not None:
            im *= self.contrast
        im = cv2.cvtColor(im, to_hsv)
        if self.saturation is not None:
            im[:, :, 1] *= self.saturation
        if self.hue is not None:
            im[:, :, 0] += self.hue
            im[:, :, 0][im[:, :, 0] > 360.0] -= 360.0
            im[:, :, 0][im[:, :, 0] < 0.0] += 360.0
        im = cv2.cvtColor(im, from_hsv)
        if not self.contrast_first and self.contrast is not None:
            im *= self.contrast
        return im

    def apply_coords(self, coords):
        return coords

    def apply_segmentation(self, segmentation):
        return segmentation


class PhotometricDistort(T.Augmentation):
    """Random brightness (delta in [-BRIGHTNESS_DELTA, +]), contrast and saturation (factor in
    ``contrast`` / ``saturation`` ranges) and hue (delta in degrees), each applied with
    probability 1/2, contrast before or after the HSV part with probability 1/2."""

    def __init__(self, brightness_delta=32.0, contrast=(0.5, 1.5), saturation=(0.5, 1.5),
                 hue_delta=18.0, image_format="RGB"):  # fmt: skip
        super().__init__()
        self._init(locals())

    def get_transform(self, image):
        def maybe(lo, hi):
            return np.random.uniform(lo, hi) if np.random.randint(2) else None

        d = self.brightness_delta
        brightness = maybe(-d, d)
        contrast_first = bool(np.random.randint(2))
        contrast = maybe(*self.contrast) if contrast_first else None
        saturation = maybe(*self.saturation)
        hue = maybe(-self.hue_delta, self.hue_delta)
        if not contrast_first:
            contrast = maybe(*self.contrast)
        return PhotometricTransform(
            brightness, contrast, contrast_first, saturation, hue, self.image_format
        )


class ExpandTransform(T.PadTransform):
    """The image at (x0, y0) on a float32 canvas filled with ``fill`` (one value per channel);
    segmentation padded with 0; coordinates shifted by (x0, y0)."""

    def __init__(self, x0, y0, x1, y1, orig_w, orig_h, fill):
        super().__init__(x0, y0, x1, y1, orig_w, orig_h)
        self.fill = np.asarray(fill, np.float32)

    def apply_image(self, img):
        h, w = img.shape[:2]
        shape = (self.y0 + h + self.y1, self.x0 + w + self.x1) + img.shape[2:]
        out = np.empty(shape, np.float32)
        out[...] = self.fill if img.ndim == 3 else self.fill.mean()
        out[self.y0 : self.y0 + h, self.x0 : self.x0 + w] = img
        return out


class ZoomOut(T.Augmentation):
    """The official ``Expand``: with probability 1/2, a canvas of int(ratio H) x int(ratio W),
    ratio uniform in [1, max_ratio], filled with ``fill`` (the pixel mean), the image at
    (int(left), int(top)) with left uniform in [0, W ratio - W], top in [0, H ratio - H]."""

    def __init__(self, fill, max_ratio=4.0):
        super().__init__()
        self._init(locals())

    def get_transform(self, image):
        if np.random.randint(2):
            return T.NoOpTransform()
        h, w = image.shape[:2]
        ratio = np.random.uniform(1, self.max_ratio)
        left = np.random.uniform(0, w * ratio - w)
        top = np.random.uniform(0, h * ratio - h)
        x0, y0 = int(left), int(top)
        return ExpandTransform(
            x0, y0, int(w * ratio) - w - x0, int(h * ratio) - h - y0, w, h, self.fill
        )


def _clip_polygon(poly, x0, y0, x1, y1):
    """Sutherland-Hodgman clip of a polygon (N, 2) to the rectangle [x0, x1] x [y0, y1]: the
    same region as the intersection (a concave polygon may come back with zero-width bridges
    along the border, which rasterise to nothing)."""
    pts = [tuple(p) for p in poly]
    for axis, bound, keep_above in ((0, x0, True), (0, x1, False), (1, y0, True), (1, y1, False)):
        if not pts:
            break

        def inside(p):
            return p[axis] >= bound if keep_above else p[axis] <= bound

        out = []
        for i, cur in enumerate(pts):
            prev = pts[i - 1]
            if inside(cur):
                if not inside(prev):
                    out.append(_cross(prev, cur, axis, bound))
                out.append(cur)
            elif inside(prev):
                out.append(_cross(prev, cur, axis, bound))
        pts = out
    return np.asarray(pts, np.float64).reshape(-1, 2)


def _cross(p, q, axis, bound):
    t = (bound - p[axis]) / (q[axis] - p[axis])
    r = (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))
    return (bound, r[1]) if axis == 0 else (r[0], bound)


class SSDCropTransform(T.CropTransform):
    """``CropTransform`` of the SSD crop, plus ``keep``: per box given to :class:`SSDRandomCrop`,
    whether its centre is strictly inside the crop (the official code drops the others, crowds
    included). Polygons are clipped to the crop without shapely (Sutherland-Hodgman); a polygon
    with nothing left is dropped."""

    def __init__(self, x0, y0, w, h, orig_w, orig_h, keep):
        super().__init__(x0, y0, w, h, orig_w, orig_h)
        self.keep = np.asarray(keep, bool)

    def apply_polygons(self, polygons):
        out = []
        for p in polygons:
            c = _clip_polygon(np.asarray(p, np.float64), self.x0, self.y0,
                              self.x0 + self.w, self.y0 + self.h)  # fmt: skip
            if len(c) >= 3:
                out.append(self.apply_coords(c))
        return out


def _iou(boxes, rect):
    lt = np.maximum(boxes[:, :2], rect[:2])
    rb = np.minimum(boxes[:, 2:], rect[2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return inter / (area + np.prod(rect[2:] - rect[:2]) - inter)


class SSDRandomCrop(T.Augmentation):
    """The official ``RandomSampleCrop``. Draw a mode among ``min_ious`` (``None`` = no crop,
    ``-inf`` = any patch); up to ``tries`` times draw w in [min_scale W, W], h in [min_scale H,
    H]; reject if h / w is outside ``aspect``; draw left = ``uniform(W - w)`` and top =
    ``uniform(H - h)`` (NumPy's ``uniform(low, high=1)``: as the official call, the offset lies
    between 1 and W - w, not 0 and W - w); rect = int(left), int(top), int(left + w),
    int(top + h). With ``iou_check`` False (official), the IoU constraint is the official
    one, which never rejects (``min < min_iou and inf < max``); with True, a rect is rejected
    when no box has IoU >= min_iou (the fix the official comment reports to halve mAP). Reject
    if no box centre is strictly inside the rect or only crowds are; else crop (the rect
    clipped to the image, which it leaves by < 1 px only when w > W - 1) and keep the boxes
    whose centre is inside. After ``tries`` rejections a new mode is drawn. Images without a
    non-crowd box are never cropped (the official loop could only end by drawing ``None``)."""

    def __init__(self, min_ious=(None, 0.1, 0.3, 0.7, 0.9, float("-inf")), tries=50,
                 min_scale=0.3, aspect=(0.5, 2.0), iou_check=False):  # fmt: skip
        super().__init__()
        self._init(locals())

    def get_transform(self, image, boxes, is_crowd):
        height, width = image.shape[:2]
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        is_crowd = np.asarray(is_crowd, bool)
        if not (~is_crowd).any():
            return T.NoOpTransform()
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2.0
        while True:
            min_iou = self.min_ious[np.random.randint(len(self.min_ious))]
            if min_iou is None:
                return T.NoOpTransform()
            for _ in range(self.tries):
                w = np.random.uniform(self.min_scale * width, width)
                h = np.random.uniform(self.min_scale * height, height)
                if h / w < self.aspect[0] or h / w > self.aspect[1]:
                    continue
                left = np.random.uniform(width - w)
                top = np.random.uniform(height - h)
                rect = np.array([int(left), int(top), int(left + w), int(top + h)])
                if self.iou_check and _iou(boxes, rect).max() < min_iou:
                    continue
                keep = (
                    (rect[0] < centres[:, 0])
                    & (rect[1] < centres[:, 1])
                    & (rect[2] > centres[:, 0])
                    & (rect[3] > centres[:, 1])
                )
                if not (keep & ~is_crowd).any():
                    continue
                x1, y1 = min(rect[2], width), min(rect[3], height)
                return SSDCropTransform(
                    rect[0], rect[1], x1 - rect[0], y1 - rect[1], width, height, keep
                )


class RandomMirror(T.Augmentation):
    """The official ``RandomMirror``: horizontal flip when ``randint(2)`` is 1."""

    def get_transform(self, image):
        if np.random.randint(2):
            return T.HFlipTransform(image.shape[1])
        return T.NoOpTransform()


def build_ssd_augmentation(cfg):
    """The official training augmentation of ``cfg`` (INPUT.YOLACT.*), ending with the resize
    to MODEL.YOLACT.MAX_SIZE²."""
    a = cfg.INPUT.YOLACT
    augs = []
    if a.PHOTOMETRIC:
        augs.append(
            PhotometricDistort(a.BRIGHTNESS_DELTA, tuple(a.CONTRAST), tuple(a.SATURATION),
                               a.HUE_DELTA, cfg.INPUT.FORMAT)  # fmt: skip
        )
    if a.EXPAND:
        augs.append(ZoomOut(list(cfg.MODEL.PIXEL_MEAN), a.EXPAND_MAX_RATIO))
    if a.CROP:
        ious = tuple(None if x < 0 else x for x in a.CROP_MIN_IOUS)
        augs.append(
            SSDRandomCrop(ious, a.CROP_TRIES, a.CROP_MIN_SCALE, tuple(a.CROP_ASPECT),
                          a.CROP_IOU_CHECK)  # fmt: skip
        )
    if a.MIRROR:
        augs.append(RandomMirror())
    augs.append(FixedSizeResize(cfg.MODEL.YOLACT.MAX_SIZE))
    return augs


def discard_small_boxes(boxes, size):
    """The official ``Resize`` filter after the resize: keep boxes wider and taller than
    ``size`` (network-input pixels; the official constant is 4 / 550, compared with pixel
    boxes, so only degenerate boxes go). Returns a bool mask."""
    boxes = np.asarray(boxes).reshape(-1, 4)
    return (boxes[:, 2] - boxes[:, 0] > size) & (boxes[:, 3] - boxes[:, 1] > size)
