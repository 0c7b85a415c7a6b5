"""CenterNet "Objects as Points" training input: the official ``ctdet`` random scale / shift /
flip affine crop to INPUT_RES² and its colour augmentation (xingyizhou/CenterNet @4c50fd3,
``datasets/sample/ctdet.py`` with ``keep_res`` and ``not_rand_crop`` off), as a detectron2
``Augmentation`` / ``Transform`` so that boxes, polygon and bitmask masks follow the image.

Per training image of size (h, w), with ``s0 = max(h, w)``:

1. ``s = s0 * np.random.choice(SCALE_CHOICES)``;
2. the centre ``cx = np.random.randint(bw, w - bw)``, ``cy = np.random.randint(bh, h - bh)``
   where the border ``b`` of a side ``n`` is BORDER halved until ``n - b > b``;
3. ``np.random.random() < FLIP``: mirror;
4. the image warped (bilinear) by the similarity that takes the square of side ``s`` centred on
   (cx, cy) to the INPUT_RES² output: ``x' = k (x - cx) + R / 2`` (``-k`` when mirrored),
   ``y' = k (y - cy) + R / 2``, ``k = R / s``. The official code mirrors the image first and
   moves the centre to ``w - 1 - cx``: the composition is this mirror about (cx, cy) itself;
5. boxes through the same affine (pixel-index coordinates, as the official boxes), clipped to
   the output, the empty ones dropped (the model clips again to its stride-4 map, as the
   official target code does); crowd boxes are ordinary ones (CROWD_AS_OBJECTS, as officially);
6. with COLOR_AUG, on the warped image / 255 (float32, not clipped): brightness, contrast and
   saturation (each ``1 + uniform(-0.4, 0.4)``; contrast blends with the grey mean, saturation
   with the grey image) in an order from Python's ``random.shuffle``, then PCA lighting
   ``+ eigvec @ (eigval * normal(0, 0.1, 3))`` with the ImageNet eigen values / vectors.

The geometric draws come from NumPy's global generator in the official order. The colour draws
come from a generator of their own (the official ``data_rng``); the official one is a
``RandomState(123)`` created with the dataset, so every data-loader worker repeats the same
colour sequence: here each mapper's generator is seeded from NumPy's global generator (which
detectron2 seeds per worker) on first use, unless ``color_seed`` is given.

The mapped image is a float32 tensor on the 0..255 scale, which the model normalises with
``PIXEL_MEAN`` / ``PIXEL_STD`` (the official COCO mean / std × 255). Test mode is the project's
``DatasetMapper`` with the config's test transform (the image at its own resolution)."""

import random

import cv2
import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import transforms as T

from ..data.mappers import DatasetMapper
from ..data.photometric import PCA_EIGEN_VALUES, PCA_EIGEN_VECTORS, crop_border, jitter_and_light

__all__ = [
    "CenterNetAffine",
    "CenterNetAffineTransform",
    "CenterNetMapper",
    "EIGEN_VALUES",
    "EIGEN_VECTORS",
    "SCALE_CHOICES",
    "border",
    "centernet_affine_matrix",
    "color_augment",
]

# np.arange(0.6, 1.4, 0.1), the official scale factors
SCALE_CHOICES = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
# the PCA lighting values the official code stores (shared with CornerNet)
EIGEN_VALUES, EIGEN_VECTORS = PCA_EIGEN_VALUES, PCA_EIGEN_VECTORS
border = crop_border  # the official ``_get_border``


def centernet_affine_matrix(center, scale, out_w, out_h, flip=False):
    """2×3 matrix taking the square of side ``scale`` centred on ``center`` to the centre of an
    ``out_w`` × ``out_h`` output, scaled by ``out_w / scale`` (the official
    ``get_affine_transform(center, scale, 0, (out_w, out_h))``); ``flip`` mirrors about the
    centre (x' = out_w / 2 - k (x - cx))."""
    k = out_w / float(scale)
    cx, cy = float(center[0]), float(center[1])
    kx = -k if flip else k
    return np.array(
        [[kx, 0.0, out_w / 2.0 - kx * cx], [0.0, k, out_h / 2.0 - k * cy]], dtype=np.float64
    )


class CenterNetAffineTransform(T.Transform):
    """An affine warp (2×3 ``matrix`` on pixel-index coordinates) to ``out_w`` × ``out_h``:
    images bilinear (``cv2.warpAffine``, zero border), segmentation maps / bitmasks nearest,
    coordinates (boxes, polygons, keypoints) by the matrix."""

    def __init__(self, matrix, out_w, out_h):
        super().__init__()
        self._set_attributes(locals())

    def apply_image(self, img, interp=None):
        flags = cv2.INTER_LINEAR if interp is None else interp
        size = (int(self.out_w), int(self.out_h))
        if img.ndim == 3 and img.shape[2] > 4:  # cv2 handles up to 4 channels at once
            return np.stack([self.apply_image(img[..., i], interp) for i in range(img.shape[2])], 2)
        out = cv2.warpAffine(img, self.matrix, size, flags=flags)
        if img.ndim == 3 and out.ndim == 2:
            out = out[:, :, None]
        return out

    def apply_coords(self, coords):
        coords = np.asarray(coords, np.float64)
        return coords @ self.matrix[:, :2].T + self.matrix[:, 2]

    def apply_segmentation(self, segmentation):
        dtype = segmentation.dtype
        out = self.apply_image(segmentation.astype(np.uint8), interp=cv2.INTER_NEAREST)
        return out.astype(dtype)


class CenterNetAffine(T.Augmentation):
    """Draws the official ``ctdet`` crop (scale, centre, flip; see the module docstring) and
    returns a :class:`CenterNetAffineTransform` to ``input_res``²."""

    def __init__(self, input_res=512, scale_choices=SCALE_CHOICES, border=128, flip_prob=0.5):
        super().__init__()
        self.input_res, self.border, self.flip_prob = int(input_res), int(border), flip_prob
        self.scale_choices = np.asarray(scale_choices, np.float64)

    def draw(self, h, w):
        """``(center, scale, flip)`` from NumPy's global generator, in the official order."""
        scale = max(h, w) * float(np.random.choice(self.scale_choices))
        bw, bh = border(self.border, w), border(self.border, h)
        cx = np.random.randint(low=bw, high=w - bw)
        cy = np.random.randint(low=bh, high=h - bh)
        flip = bool(np.random.random() < self.flip_prob)
        return np.array([cx, cy], np.float64), scale, flip

    def get_transform(self, image):
        h, w = image.shape[:2]
        center, scale, flip = self.draw(h, w)
        r = self.input_res
        return CenterNetAffineTransform(centernet_affine_matrix(center, scale, r, r, flip), r, r)


def color_augment(image, rng, order=None, var=0.4, alphastd=0.1):
    """The official ``color_aug`` on ``image`` (H×W×3 BGR float32 in [0, 1], changed in place
    and returned): ``order`` of ``("brightness", "contrast", "saturation")`` (default: Python's
    ``random.shuffle`` of that list), each factor ``1 + rng.uniform(-var, var)``, then lighting
    with ``rng.normal(scale=alphastd, size=3)``. The grey image and its mean are taken once,
    before the three steps."""
    if order is None:
        order = ["brightness", "contrast", "saturation"]
        random.shuffle(order)
    alphas = [1.0 + rng.uniform(low=-var, high=var) for _ in order]
    return jitter_and_light(image, order, alphas, rng.normal(scale=alphastd, size=(3,)))


class CenterNetMapper(DatasetMapper):
    """The project's ``DatasetMapper`` with the official CenterNet-OAP training input
    (``INPUT.CENTERNET_OAP.*``; see the module docstring). Test mode: unchanged."""

    @configurable
    def __init__(
        self, is_train, *, color_aug=False, color_seed=None, crowd_as_objects=False, **kwargs
    ):
        super().__init__(is_train, **kwargs)
        self.color_aug, self.color_seed = bool(color_aug), color_seed
        self.crowd_as_objects = crowd_as_objects
        self._color_rng = None

    @classmethod
    def from_config(cls, cfg, is_train=True):
        ret = super().from_config(cfg, is_train)
        if is_train:
            c = cfg.INPUT.CENTERNET_OAP
            aug = CenterNetAffine(c.INPUT_RES, tuple(c.SCALE_CHOICES), c.BORDER, c.FLIP)
            ret.update(
                augmentations=[aug], color_aug=c.COLOR_AUG, recompute_boxes=False,
                crowd_as_objects=c.CROWD_AS_OBJECTS,
            )  # fmt: skip
        return ret

    @property
    def color_rng(self):
        if self._color_rng is None:
            seed = self.color_seed
            if seed is None:
                seed = np.random.randint(2**31)
            self._color_rng = np.random.RandomState(seed)
        return self._color_rng

    def __call__(self, dataset_dict):
        dataset_dict = super().__call__(dataset_dict)
        if dataset_dict is not None and self.is_train and self.color_aug:
            image = dataset_dict["image"].permute(1, 2, 0).numpy().astype(np.float32) / 255.0
            image = color_augment(np.ascontiguousarray(image), self.color_rng)
            dataset_dict["image"] = torch.from_numpy(image * 255.0).permute(2, 0, 1).contiguous()
        return dataset_dict

    def _transform_annotations(self, dataset_dict, transforms, image_shape):
        if self.is_train and self.crowd_as_objects:  # detectron2 would drop them
            dataset_dict["annotations"] = [dict(a, iscrowd=0) for a in dataset_dict["annotations"]]
        super()._transform_annotations(dataset_dict, transforms, image_shape)
        if not self.is_train:
            return
        inst = dataset_dict["instances"]
        if inst.has("gt_boxes"):
            inst.gt_boxes.clip(image_shape)
            dataset_dict["instances"] = inst[inst.gt_boxes.nonempty()]
