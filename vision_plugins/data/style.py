"""Style-transfer data: a folder of content images plus one style image.

The official pytorch/examples ``fast_neural_style`` (@77f55b9, ``neural_style.py train``) reads
``--dataset`` with ``torchvision.datasets.ImageFolder`` (every image under the folder's
subfolders; labels unused) and one ``--style-image``. Here:

- :func:`register_style_dataset` ``(name, content_folder, style_image)``: dicts ``file_name``,
  ``image_id``, ``height`` / ``width`` (file header) of every image under ``content_folder``
  (recursive, :func:`~vision_plugins.data.translation.list_images` order); metadata
  ``evaluator_type="style"``, ``image_root``, ``style_image`` (path; "" = given by
  ``INPUT.STYLE.STYLE_IMAGE``).
- Builtin ``style_coco_2014_train`` / ``style_coco_2014_val``: ``$DETECTRON2_DATASETS/coco/
  {train,val}2014`` (the paper's / official training set), style image from the config.
- Synthetic ``vp_style_train`` / ``vp_style_val`` (:data:`STYLE_SPECS`): seeded procedural
  content images (80×64: gradients, discs, boxes, rings) and one style image (96×96 diagonal
  stripes of three colours with a dotted overlay), generated into the synthetic cache.
- :class:`StyleMapper`: training = the official content transform ``Resize(SIZE)`` (shorter
  side to ``INPUT.STYLE.SIZE``, longer ``int(SIZE · long / short)``, PIL bilinear -- PIL's
  resize is antialiased, as torchvision's on PIL images) then ``CenterCrop(SIZE)`` (offsets
  ``round((h - SIZE) / 2)``, ``round((w - SIZE) / 2)``); no random draw (the official loader does
  not shuffle either; detectron2's sampler does). Test = :func:`build_style_test_augmentation`
  (``INPUT.STYLE.TEST_SIZE`` 0: the image as it is, the official ``stylize``; else the shorter
  side resized to it). Output ``image``: float (3, H, W) 0..255 RGB.
- :func:`load_style_image`: the official ``utils.load_image(style_image, size=style_size)``
  (RGB; ``size`` > 0: resized to size × size with LANCZOS, the removed ``Image.ANTIALIAS``).
- :func:`add_style_input_config`: ``INPUT.STYLE`` keys (idempotent).
"""

import functools
import json
import os
from typing import List, Optional

import cv2
import numpy as np
import torch
from detectron2.config import CfgNode as CN
from detectron2.config import configurable
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import transforms as T
from PIL import Image

from .image_io import read_image
from .synthetic.common import (
    SYNTHETIC_DATASETS,
    SyntheticSpec,
    add_synthetic_family,
    ensure_generated,
    image_rng,
)
from .translation import _header_size, list_images

__all__ = [
    "add_style_input_config",
    "load_content_folder",
    "register_style_dataset",
    "register_builtin_style",
    "style_image_path",
    "load_style_image",
    "StyleMapper",
    "build_style_test_augmentation",
    "StyleResize",
    "STYLE_SPECS",
    "render_content",
    "render_style",
]


def add_style_input_config(cfg):
    """``INPUT.STYLE`` (idempotent; new keys only)."""
    if "STYLE" in cfg.INPUT:
        return cfg
    s = cfg.INPUT.STYLE = CN()
    # Training crop side (official --image-size 256): shorter side resized to it, centre crop.
    s.SIZE = 256
    # The style image; "" = the "style_image" of the first training (evaluation: test) dataset's
    # metadata. STYLE_SIZE > 0 resizes it to STYLE_SIZE x STYLE_SIZE (official --style-size;
    # default: as it is).
    s.STYLE_IMAGE = ""
    s.STYLE_SIZE = 0
    # Test transform: 0 = the image at its own size (official stylize, --content-scale 1), else
    # the shorter side resized to TEST_SIZE (bilinear).
    s.TEST_SIZE = 0
    return cfg


# ---------------------------------------------------------------------------------------------
# Datasets


def load_content_folder(folder: str, max_images: Optional[int] = None) -> List[dict]:
    """Dicts of the images under ``folder`` (recursive): ``file_name``, ``image_id``, and the
    header's ``height`` / ``width``."""
    files = list_images(folder, max_images)
    if not files:
        raise FileNotFoundError(f"content folder {folder!r} has no images")
    dicts = []
    for index, file_name in enumerate(files):
        d = {"file_name": file_name, "image_id": index}
        size = _header_size(file_name)
        if size is not None:
            d["width"], d["height"] = size
        dicts.append(d)
    return dicts


def register_style_dataset(name: str, content_folder: str, style_image: str = "", **metadata):
    """Register the images of ``content_folder`` with one ``style_image`` (module doc)."""
    DatasetCatalog.register(name, functools.partial(load_content_folder, content_folder))
    MetadataCatalog.get(name).set(
        evaluator_type="style", image_root=content_folder, style_image=style_image, **metadata
    )


def register_builtin_style(root: Optional[str] = None):
    """``style_coco_2014_{train,val}`` under ``$DETECTRON2_DATASETS`` (default ``datasets``);
    nothing is read until a split is loaded."""
    root = root or os.path.expanduser(os.environ.get("DETECTRON2_DATASETS", "datasets"))
    for split in ("train", "val"):
        name = f"style_coco_2014_{split}"
        if name not in DatasetCatalog:
            register_style_dataset(name, os.path.join(root, "coco", f"{split}2014"))


def style_image_path(style_image: str, dataset_names) -> str:
    """``style_image`` (``INPUT.STYLE.STYLE_IMAGE``) if set, else the ``style_image`` of the
    first of ``dataset_names`` that has one (synthetic sets are generated first); "" if none."""
    if style_image:
        return style_image
    for name in dataset_names:
        if name in SYNTHETIC_DATASETS:
            ensure_generated(name)
        path = MetadataCatalog.get(name).get("style_image", "") if name in DatasetCatalog else ""
        if path:
            return path
    return ""


def load_style_image(path: str, size: int = 0) -> torch.Tensor:
    """(1, 3, H, W) float 0..255 RGB: the official ``load_image(path, size)`` (module doc)."""
    if not path:
        raise ValueError(
            "no style image: set INPUT.STYLE.STYLE_IMAGE, or train on a dataset whose metadata "
            "has 'style_image' (vision_plugins.data.style.register_style_dataset)"
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(f"INPUT.STYLE.STYLE_IMAGE / style_image={path!r}: no such file")
    with Image.open(path) as im:
        im = im.convert("RGB")
        if size:
            im = im.resize((size, size), Image.LANCZOS)
        array = np.asarray(im)
    return torch.from_numpy(array.transpose(2, 0, 1).copy()).float()[None]


# ---------------------------------------------------------------------------------------------
# Transforms and mapper


class StyleResize(T.Augmentation):
    """torchvision ``Resize(size)`` with an int: the shorter side to ``size``, the longer to
    ``int(size * long / short)`` (PIL bilinear, antialiased); no-op when already so."""

    def __init__(self, size: int):
        super().__init__()
        self.size = int(size)

    def get_transform(self, image):
        h, w = image.shape[:2]
        if min(h, w) == self.size:
            return T.NoOpTransform()
        if w <= h:
            new_w, new_h = self.size, int(self.size * h / w)
        else:
            new_h, new_w = self.size, int(self.size * w / h)
        return T.ResizeTransform(h, w, new_h, new_w, Image.BILINEAR)


class _CenterCrop(T.Augmentation):
    """torchvision ``CenterCrop(size)`` on an image at least ``size`` in both sides."""

    def __init__(self, size: int):
        super().__init__()
        self.size = int(size)

    def get_transform(self, image):
        h, w = image.shape[:2]
        if h < self.size or w < self.size:
            raise ValueError(f"{w}x{h} image smaller than the {self.size} centre crop")
        top = int(round((h - self.size) / 2.0))
        left = int(round((w - self.size) / 2.0))
        return T.CropTransform(left, top, self.size, self.size)


def build_style_test_augmentation(cfg) -> List[T.Augmentation]:
    """The test transform shared by the evaluation loader and ``Predictor`` (module doc)."""
    size = cfg.INPUT.STYLE.TEST_SIZE
    return [StyleResize(size)] if size else []


class StyleMapper:
    """Content images -> ``{"image": float (3, H, W) 0..255 RGB, "height", "width", ...}``
    (module doc: the official training transform, or the test augmentations)."""

    @configurable
    def __init__(self, is_train: bool = True, *, size: int = 256, augmentations=None):
        self.is_train = is_train
        self.size = int(size)
        if is_train:
            augmentations = [StyleResize(self.size), _CenterCrop(self.size)]
        self.augmentations = T.AugmentationList(list(augmentations or []))

    @classmethod
    def from_config(cls, cfg, is_train: bool = True, augmentations=None):
        if "STYLE" not in cfg.INPUT:
            raise KeyError("cfg has no INPUT.STYLE keys: add them with add_style_input_config")
        if augmentations is None and not is_train:
            augmentations = build_style_test_augmentation(cfg)
        return {"is_train": is_train, "size": cfg.INPUT.STYLE.SIZE, "augmentations": augmentations}

    def __repr__(self):
        return f"StyleMapper({'train' if self.is_train else 'test'}, {self.augmentations})"

    def __call__(self, dataset_dict: dict) -> dict:
        d = dict(dataset_dict)
        image = read_image(d["file_name"], "RGB")
        aug_input = T.AugInput(image)
        self.augmentations(aug_input)
        out = np.ascontiguousarray(aug_input.image.transpose(2, 0, 1))
        d["image"] = torch.from_numpy(out).float()
        d["height"], d["width"] = image.shape[:2]
        return d


# ---------------------------------------------------------------------------------------------
# Synthetic vp_style_{train,val}

CONTENT_SIZE = (64, 80)  # (H, W): not square, so the resize + centre crop does something
STYLE_SIDE = 96
STYLE_COLORS = np.array([[230, 60, 40], [250, 210, 60], [40, 70, 160]], np.float64)
STYLE_PERIOD = 12.0  # px along the diagonal
VERSION = 1


def render_content(rng: np.random.Generator, size=CONTENT_SIZE) -> np.ndarray:
    """One H×W×3 uint8 RGB content image: a two-colour linear gradient with 3-6 discs, boxes
    and rings of random colours (drawn with OpenCV, anti-aliased)."""
    h, w = size
    a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    t = (np.cos(angle) * xx / w + np.sin(angle) * yy / h + 1) / 2
    image = (a[None, None] * (1 - t[..., None]) + b[None, None] * t[..., None]).astype(np.uint8)
    image = np.ascontiguousarray(image)
    for _ in range(int(rng.integers(3, 7))):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = int(rng.integers(0, 3))
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.integers(5, 20))
        if kind == 0:
            cv2.circle(image, (cx, cy), r, color, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(image, (cx - r, cy - r // 2), (cx + r, cy + r // 2), color, -1)
        else:
            cv2.circle(image, (cx, cy), r, color, 3, cv2.LINE_AA)
    return image


def render_style(side: int = STYLE_SIDE) -> np.ndarray:
    """The style image (side×side×3 uint8 RGB): diagonal stripes cycling through
    :data:`STYLE_COLORS` (period :data:`STYLE_PERIOD` px per colour) with a dark dot every 8 px."""
    yy, xx = np.mgrid[0:side, 0:side]
    band = (((xx + yy) / STYLE_PERIOD).astype(int)) % len(STYLE_COLORS)
    image = STYLE_COLORS[band]
    dots = ((xx % 8) < 2) & ((yy % 8) < 2)
    image[dots] *= 0.3
    return image.round().clip(0, 255).astype(np.uint8)


def _generate(out_dir: str, num_images: int, seed: int) -> None:
    os.makedirs(os.path.join(out_dir, "images"))
    for index in range(num_images):
        rgb = render_content(image_rng(seed, index))
        path = os.path.join(out_dir, "images", f"{index:06d}.png")
        if not cv2.imwrite(path, rgb[:, :, ::-1]):
            raise OSError(f"cannot write {path}")
    if not cv2.imwrite(os.path.join(out_dir, "style.png"), render_style()[:, :, ::-1]):
        raise OSError(f"cannot write the style image in {out_dir}")
    info = {"content": "images/*.png", "style_image": "style.png", "count": num_images}
    with open(os.path.join(out_dir, "style.json"), "w") as f:
        json.dump(info, f, sort_keys=True)


def _load(json_file, image_root, name):
    return load_content_folder(image_root)


def _split_metadata(split_dir):
    return {"style_image": os.path.join(split_dir, "style.png")}


STYLE_SPECS = (
    SyntheticSpec(
        prefix="vp_style",
        version=VERSION,
        splits={"train": 32, "val": 8},
        generate=_generate,
        metadata={},
        load=_load,
        evaluator_type="style",
        annotation_file="style.json",
        split_metadata=_split_metadata,
    ),
)


add_synthetic_family(*STYLE_SPECS)
register_builtin_style()
