"""Top-down single-person mapper: crop around the person, augment, build heatmap targets.

As in the official MPII pipeline, the network input is the square of side
``200 · scale · SCALE_PADDING`` around the annotated person ``center`` moved down by
``CENTER_SHIFT · scale`` pixels (MPII units), warped to ``INPUT_RES``²; training adds a random
rotation (±ROT_FACTOR°), a random scale factor in SCALE_RANGE and a horizontal flip that swaps
left/right joints. Targets are Gaussian heatmaps (σ = SIGMA heatmap pixels, the official 9×9
kernel on the pixel holding the joint) at OUTPUT_RES²; joints not annotated or falling outside
the crop get an all-zero map.
"""

import cv2
import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import BoxMode

from ..data.image_io import read_image
from ..layers.heatmaps import render_gaussian_heatmaps

__all__ = ["TopDownPoseMapper", "SquareImageCrop", "person_center_scale", "topdown_affine"]


def person_center_scale(ann, file_name):
    """``((cx, cy), scale)`` of a person annotation: MPII's ``center``/``scale`` when present,
    else the COCO-style ``bbox`` as the person square (box centre, max side / 200)."""
    if "center" in ann and "scale" in ann:
        return tuple(float(v) for v in ann["center"]), float(ann["scale"])
    if "bbox" not in ann:
        raise ValueError(
            f"{file_name}: a person annotation needs 'center' and 'scale' (MPII) or 'bbox'"
        )
    x1, y1, x2, y2 = BoxMode.convert(list(ann["bbox"]), ann["bbox_mode"], BoxMode.XYXY_ABS)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"{file_name}: empty person bbox {ann['bbox']}")
    return ((x1 + x2) / 2, (y1 + y2) / 2), max(x2 - x1, y2 - y1) / 200.0


def topdown_affine(center, size, rotation_deg, res):
    """2×3 matrix taking image pixels to the ``res``² crop: the square of side ``size`` around
    ``center``, rotated by ``rotation_deg`` (counter-clockwise in the image) about its centre."""
    t = np.deg2rad(rotation_deg)
    c, s = np.cos(t) * res / size, np.sin(t) * res / size
    cx, cy = center
    return np.array(
        [[c, s, res / 2 - c * cx - s * cy], [-s, c, res / 2 + s * cx - c * cy]], dtype=np.float64
    )


class TopDownPoseMapper:
    """Dataset dicts with one person annotation (``keypoints`` and either MPII's ``center`` and
    ``scale`` or a COCO-style ``bbox``, see :func:`person_center_scale`) ->
    ``{"image", "height", "width", "image_id", "crop_box"}`` (+ ``"gt_heatmaps"`` (K, R, R) and
    ``"gt_keypoints"`` (K, 3) in network-input pixels when training). ``crop_box`` = [x1, y1, x2,
    y2] of the (unrotated) crop in the original image, to map predictions back. At test time a
    dict without a person annotation is cropped by ``augmentations`` (the test transform: the
    whole image as the person, exactly as ``Predictor`` crops a raw image)."""

    @configurable
    def __init__(
        self,
        *,
        is_train,
        image_format,
        input_res,
        output_res,
        sigma,
        scale_padding,
        center_shift,
        rotation,
        scale_range,
        flip_prob,
        flip_indices,
        augmentations=(),
    ):
        self.is_train = is_train
        self.augmentations = T.AugmentationList(list(augmentations))
        self.image_format = image_format
        self.input_res, self.output_res, self.sigma = input_res, output_res, sigma
        self.scale_padding, self.center_shift = scale_padding, center_shift
        self.rotation, self.scale_range, self.flip_prob = rotation, scale_range, flip_prob
        self.flip_indices = flip_indices
        self.radius = int(3 * sigma + 1)

    @classmethod
    def from_config(cls, cfg, is_train=True):
        c, aug = cfg.MODEL.POSE_HOURGLASS, cfg.INPUT.POSE_HOURGLASS
        names = cfg.DATASETS.TRAIN if is_train else cfg.DATASETS.TEST
        flip = (
            utils.create_keypoint_hflip_indices(names) if is_train and aug.FLIP_PROB > 0 else None
        )
        return {
            "is_train": is_train,
            "image_format": cfg.INPUT.FORMAT,
            "input_res": c.INPUT_RES,
            "output_res": c.OUTPUT_RES,
            "sigma": c.SIGMA,
            "scale_padding": aug.SCALE_PADDING,
            "center_shift": aug.CENTER_SHIFT,
            "rotation": aug.ROTATION,
            "scale_range": tuple(aug.SCALE_RANGE),
            "flip_prob": aug.FLIP_PROB,
            "flip_indices": flip,
            "augmentations": build_pose_test_augmentation(cfg),
        }

    def __call__(self, dataset_dict):
        d = dict(dataset_dict)
        image = read_image(d["file_name"], format=self.image_format)
        utils.check_image_size(d, image)
        if not self.is_train and not d.get("annotations"):
            return self._whole_image(d, image)
        if len(d.get("annotations", [])) != 1:
            raise ValueError(
                f"{d['file_name']}: a top-down pose sample needs exactly one person annotation, "
                f"got {len(d.get('annotations', []))}"
            )
        (cx, cy), scale = person_center_scale(d["annotations"][0], d["file_name"])
        cy += self.center_shift * scale
        size = 200.0 * scale * self.scale_padding
        rotation, flip = 0.0, False
        if self.is_train:
            size *= np.random.uniform(*self.scale_range)
            rotation = np.random.uniform(-self.rotation, self.rotation)
            flip = np.random.rand() < self.flip_prob
        res = self.input_res
        matrix = topdown_affine((cx, cy), size, rotation, res)
        crop = cv2.warpAffine(image, matrix, (res, res), flags=cv2.INTER_LINEAR)
        out = {
            "file_name": d["file_name"],
            "image_id": d["image_id"],
            "height": d["height"],
            "width": d["width"],
            "crop_box": [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2],
        }
        if self.is_train:
            kps = np.asarray(d["annotations"][0]["keypoints"], np.float64).reshape(-1, 3)
            xy = kps[:, :2] @ matrix[:, :2].T + matrix[:, 2]
            visible = (kps[:, 2] > 0) & (xy >= 0).all(1) & (xy < res).all(1)
            if flip:
                crop = crop[:, ::-1]
                xy[:, 0] = res - xy[:, 0]
                xy, visible = xy[self.flip_indices], visible[self.flip_indices]
            hm_xy = torch.as_tensor(xy * (self.output_res / res), dtype=torch.float32)
            # the official target: the kernel centred on the heatmap pixel holding the joint
            out["gt_heatmaps"] = render_gaussian_heatmaps(
                (torch.floor(hm_xy) + 0.5)[None],
                torch.as_tensor(visible)[None],
                self.output_res,
                self.sigma,
                radius=self.radius,
            )[0]
            out["gt_keypoints"] = torch.as_tensor(
                np.concatenate([xy, visible[:, None] * 2.0], 1), dtype=torch.float32
            )
        out["image"] = torch.as_tensor(np.ascontiguousarray(crop.transpose(2, 0, 1)))
        return out

    def _whole_image(self, d, image):
        aug = T.AugInput(image)
        (crop,) = self.augmentations(aug).transforms
        keys = ("file_name", "image_id", "height", "width")
        out = {k: d[k] for k in keys if k in d}
        out["crop_box"] = crop.crop_box
        out["image"] = torch.as_tensor(np.ascontiguousarray(aug.image.transpose(2, 0, 1)))
        return out


class TopDownCropTransform(T.Transform):
    """The unrotated top-down crop: the square of side ``size`` around ``center`` warped to
    ``res``² (``cv2.warpAffine``, bilinear, zero outside), as the mapper crops a person."""

    def __init__(self, center, size, res):
        super().__init__()
        self._set_attributes(locals())
        self.matrix = topdown_affine(center, size, 0.0, res)

    def apply_image(self, img):
        res = self.res
        return cv2.warpAffine(img, self.matrix, (res, res), flags=cv2.INTER_LINEAR)

    def apply_coords(self, coords):
        return coords @ self.matrix[:, :2].T + self.matrix[:, 2]

    @property
    def crop_box(self):
        (cx, cy), half = self.center, self.size / 2
        return [cx - half, cy - half, cx + half, cy + half]


class SquareImageCrop(T.Augmentation):
    """The whole image as one person crop (``Predictor`` on a raw image, and the evaluation of
    a dict without a person): the centred square of side max(H, W) cropped to ``res``² by
    :class:`TopDownCropTransform`. The models map predictions back through the same square
    (``StackedHourglassPose._crop_box``)."""

    def __init__(self, res):
        super().__init__()
        self.res = res

    def get_transform(self, image):
        h, w = image.shape[:2]
        return TopDownCropTransform((w / 2, h / 2), max(h, w), self.res)


def build_pose_test_augmentation(cfg):
    """The one test transform of the pose models (evaluation loader and ``Predictor``)."""
    return [SquareImageCrop(cfg.MODEL.POSE_HOURGLASS.INPUT_RES)]
