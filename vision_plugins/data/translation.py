"""Image-to-image translation data: dataset registration and the dataset mapper.

The on-disk layouts of the official pix2pix / CycleGAN code (junyanz/pytorch-CycleGAN-and-pix2pix
@2a7afba, ``data/{aligned,unaligned,single,base}_dataset.py``):

- **aligned** (:func:`register_aligned_dataset`): ``<root>/<phase>/`` holds images with the pair
  side by side, A in the left half and B in the right half (width ``2w``). One dict per file.
- **unaligned** (:func:`register_unaligned_dataset`): ``<root>/<phase>A/`` and
  ``<root>/<phase>B/``. The dataset has ``max(|A|, |B|)`` dicts; dict ``i`` holds A image
  ``i % |A|`` and, as ``file_name_B``, B image ``i % |B|`` (the serial pairing). In training with
  ``INPUT.GAN.SERIAL_BATCHES`` False the mapper replaces it by a B image drawn uniformly with
  Python's ``random.randint(0, |B| - 1)``, as the official dataset does at every access.
- **single** (:func:`register_single_dataset`): the images of a folder, for inference (the
  official ``single`` dataset); the mapper also takes a bare ``{"file_name": ...}`` dict so.

Files are those of :func:`list_images`: every file under the folder (subfolders included) whose
name ends with one of :data:`IMG_EXTENSIONS` (case-sensitive, as the official list), in the
official order (the path objects sorted, truncated to ``max_dataset_size``, then the path
strings sorted).

Dataset dicts (keys):

- every layout: ``file_name``, ``image_id`` (the index), ``dataset_layout`` (``"aligned"`` |
  ``"unaligned"`` | ``"single"``) and, unless registered with ``image_sizes=False``,
  ``height`` / ``width`` read from the file header (EXIF orientation applied, as the decoder
  does; no pixel is decoded). For aligned files they are the size of **one half** (the A image);
  a file whose header cannot be read gets no size (the mapper reports it, or skips it with
  ``DATALOADER.SKIP_UNREADABLE_IMAGES``).
- unaligned: ``file_name_B``, ``dir_B`` and ``num_B`` (the B folder and its image count: the
  pool a random B is drawn from; the mapper lists the folder once per process and checks the
  count), ``max_dataset_size`` when given; with ``target_dirs`` (folders of known translations,
  e.g. a validation set made with a known mapping) also ``file_name_target`` (the translation of
  A), ``file_name_B_target`` (of B) and ``dir_B_target``. A target has the same path relative to
  its target folder as its source relative to the source folder.

Metadata: ``evaluator_type="translation"``, ``dataset_layout``, ``image_root`` (= ``root``, the
official ``--dataroot``), ``phase``, ``max_dataset_size``, and the unaligned ``target_dirs``.

**Half-width rule (aligned).** The official code splits at ``w2 = int(w / 2)``: for an odd width
``w`` the B half is one column wider than the A half, and nothing checks it. Here an aligned file
whose width is odd (or below 2) is refused with a ``ValueError`` naming the file and its size --
at registration (when sizes are read) and in the mapper. That is all that can be detected: a
single image of even width (a file that is not an A|B pair) cannot be told apart from a pair and
is split like one.

:class:`TranslationMapper` turns a dict of either layout into the model input (see the class).
Images are decoded by the project decoder (:func:`~vision_plugins.data.image_io.read_image`): for
8-bit files exactly PIL's ``convert("RGB")`` of the official code; 16-bit files are scaled by
their top byte (the official conversion saturates them) and the EXIF orientation is applied (the
official code ignores it).
"""

import functools
import os
import random
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import transforms as T
from PIL import Image

from .image_io import read_image

__all__ = [
    "IMG_EXTENSIONS",
    "PREPROCESS_MODES",
    "list_images",
    "load_aligned_dataset",
    "load_unaligned_dataset",
    "register_aligned_dataset",
    "register_unaligned_dataset",
    "load_single_dataset",
    "register_single_dataset",
    "register_builtin_translation",
    "aligned_input_half",
    "TranslationMapper",
    "build_translation_test_augmentation",
    "translation_test_augmentation",
    "MakeMultipleOf",
    "ScaleWidth",
    "CenterCrop",
    "PaddedCropTransform",
]

#: file name endings of the images of a folder (the official list; case-sensitive)
IMG_EXTENSIONS = (
    ".jpg",
    ".JPG",
    ".jpeg",
    ".JPEG",
    ".png",
    ".PNG",
    ".ppm",
    ".PPM",
    ".bmp",
    ".BMP",
    ".tif",
    ".TIF",
    ".tiff",
    ".TIFF",
)

#: values of INPUT.GAN.PREPROCESS (the official --preprocess)
PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
DIRECTIONS = ("AtoB", "BtoA")
_MULTIPLE = 4  # PREPROCESS "none": sides rounded to a multiple of this


# ---------------------------------------------------------------------------------------------
# Listing and registration


def list_images(folder: str, max_dataset_size: Optional[int] = None) -> List[str]:
    """The image files under ``folder`` (recursively) in the official order: the ``Path``
    objects of ``Path(folder).rglob("*")`` that are files with an :data:`IMG_EXTENSIONS` ending,
    sorted, the first ``max_dataset_size`` kept, then sorted as strings."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"image folder {folder!r} does not exist or is not a directory")
    paths = [p for p in sorted(Path(folder).rglob("*")) if p.is_file() and _is_image(p.name)]
    if max_dataset_size is not None:
        paths = paths[: max(0, int(max_dataset_size))]
    return sorted(str(p) for p in paths)


def _is_image(name: str) -> bool:
    return name.endswith(IMG_EXTENSIONS)


def _nonempty(files: List[str], folder: str) -> List[str]:
    if not files:
        raise ValueError(
            f"no image files in {folder!r} (file names ending with {', '.join(IMG_EXTENSIONS)})"
        )
    return files


@functools.lru_cache(maxsize=None)
def _cached_listing(folder: str, max_dataset_size: Optional[int]) -> Tuple[str, ...]:
    return tuple(list_images(folder, max_dataset_size))


_EXIF_ORIENTATION = 0x0112


def _header_size(file_name: str) -> Optional[Tuple[int, int]]:
    """``(width, height)`` of the decoded image from the file header (EXIF orientations 5-8
    swap them, as the decoder's transposition does); None if the header cannot be read."""
    try:
        with Image.open(file_name) as im:
            w, h = im.size
            try:
                orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
            except Exception:  # a broken EXIF block: the decoder ignores it too
                orientation = 1
    except Exception:
        return None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def check_aligned_width(width: int, height: int, file_name: str) -> None:
    """Raise ``ValueError`` naming ``file_name`` unless ``width`` splits into two equal halves."""
    if width < 2 or width % 2:
        raise ValueError(
            f"aligned image {file_name!r} is {width}x{height} (width x height): an A|B pair needs "
            f"an even width (two halves of equal width); is it a single image, or was it cropped?"
        )


def load_aligned_dataset(
    root: str,
    phase: str = "train",
    *,
    max_dataset_size: Optional[int] = None,
    image_sizes: bool = True,
) -> List[dict]:
    """Dicts of the aligned images ``<root>/<phase>/`` (module doc)."""
    folder = os.path.join(root, phase)
    dicts = []
    for index, file_name in enumerate(_nonempty(list_images(folder, max_dataset_size), folder)):
        d = {"file_name": file_name, "image_id": index, "dataset_layout": "aligned"}
        size = _header_size(file_name) if image_sizes else None
        if size is not None:
            check_aligned_width(*size, file_name)
            d["width"], d["height"] = size[0] // 2, size[1]
        dicts.append(d)
    return dicts


def _target(file_name: str, source_dir: str, target_dir: str) -> str:
    return os.path.join(target_dir, os.path.relpath(file_name, source_dir))


def load_unaligned_dataset(
    root: str,
    phase: str = "train",
    *,
    target_dirs: Optional[Sequence[str]] = None,
    max_dataset_size: Optional[int] = None,
    image_sizes: bool = True,
) -> List[dict]:
    """Dicts of the unaligned folders ``<root>/<phase>A/`` and ``<root>/<phase>B/`` (module
    doc). ``target_dirs``: two folders under ``root`` holding the known translation of every A
    image and of every B image (same relative paths); a missing one raises naming it."""
    dir_A, dir_B = (os.path.join(root, phase + side) for side in "AB")
    files_A = _nonempty(list_images(dir_A, max_dataset_size), dir_A)
    files_B = _nonempty(list_images(dir_B, max_dataset_size), dir_B)
    targets = None
    if target_dirs is not None:
        if len(target_dirs) != 2:
            raise ValueError(f"target_dirs: expected two folders (of A, of B), got {target_dirs}")
        targets = [os.path.join(root, t) for t in target_dirs]
        for files, source, target in ((files_A, dir_A, targets[0]), (files_B, dir_B, targets[1])):
            for f in files:
                if not os.path.isfile(_target(f, source, target)):
                    raise FileNotFoundError(
                        f"no target {_target(f, source, target)!r} for {f!r} (target folders "
                        f"hold the translation of every source image, same relative path)"
                    )
    sizes = {}
    dicts = []
    for index in range(max(len(files_A), len(files_B))):
        file_A, file_B = files_A[index % len(files_A)], files_B[index % len(files_B)]
        d = {
            "file_name": file_A,
            "image_id": index,
            "dataset_layout": "unaligned",
            "file_name_B": file_B,
            "dir_B": dir_B,
            "num_B": len(files_B),
        }
        if max_dataset_size is not None:
            d["max_dataset_size"] = int(max_dataset_size)
        if targets is not None:
            d["file_name_target"] = _target(file_A, dir_A, targets[0])
            d["file_name_B_target"] = _target(file_B, dir_B, targets[1])
            d["dir_B_target"] = targets[1]
        if image_sizes:
            if file_A not in sizes:
                sizes[file_A] = _header_size(file_A)
            if sizes[file_A] is not None:
                d["width"], d["height"] = sizes[file_A]
        dicts.append(d)
    return dicts


def _register(name, loader, layout, root, phase, max_dataset_size, metadata):
    DatasetCatalog.register(name, loader)
    defaults = {
        "evaluator_type": "translation",
        "dataset_layout": layout,
        "image_root": root,
        "phase": phase,
        "max_dataset_size": max_dataset_size,
    }
    MetadataCatalog.get(name).set(**{**defaults, **metadata})


def register_aligned_dataset(
    name: str,
    root: str,
    phase: str = "train",
    *,
    max_dataset_size: Optional[int] = None,
    image_sizes: bool = True,
    **metadata,
) -> None:
    """Register the aligned A|B images of ``<root>/<phase>/`` as dataset ``name`` (module doc);
    ``metadata`` is added to (and may override) the defaults."""
    loader = functools.partial(
        load_aligned_dataset,
        root,
        phase,
        max_dataset_size=max_dataset_size,
        image_sizes=image_sizes,
    )
    _register(name, loader, "aligned", root, phase, max_dataset_size, metadata)


def register_unaligned_dataset(
    name: str,
    root: str,
    phase: str = "train",
    *,
    target_dirs: Optional[Sequence[str]] = None,
    max_dataset_size: Optional[int] = None,
    image_sizes: bool = True,
    **metadata,
) -> None:
    """Register the unaligned folders ``<root>/<phase>A/``, ``<root>/<phase>B/`` as dataset
    ``name`` (module doc); ``target_dirs`` as :func:`load_unaligned_dataset`."""
    loader = functools.partial(
        load_unaligned_dataset,
        root,
        phase,
        target_dirs=None if target_dirs is None else tuple(target_dirs),
        max_dataset_size=max_dataset_size,
        image_sizes=image_sizes,
    )
    if target_dirs is not None:
        metadata = {"target_dirs": list(target_dirs), **metadata}
    _register(name, loader, "unaligned", root, phase, max_dataset_size, metadata)


def aligned_input_half(cfg, dataset_name):
    """For an aligned (A|B files) dataset, the half of each file the model takes as input under
    ``cfg``'s ``INPUT.GAN.DIRECTION``: ``"left"`` (AtoB) or ``"right"`` (BtoA); None for any
    other dataset (the whole file is the input)."""
    if MetadataCatalog.get(dataset_name).get("dataset_layout") != "aligned":
        return None
    return "left" if cfg.INPUT.GAN.DIRECTION == "AtoB" else "right"


# The official datasets (``datasets/download_{pix2pix,cyclegan}_dataset.sh`` layouts) under
# $DETECTRON2_DATASETS (default ./datasets): name -> (folder, layout, phases).
_BUILTIN = {
    "facades": ("facades", "aligned", ("train", "val", "test")),
    "maps": ("maps", "aligned", ("train", "val")),
    "edges2shoes": ("edges2shoes", "aligned", ("train", "val")),
    "horse2zebra": ("horse2zebra", "unaligned", ("train", "test")),
    "monet2photo": ("monet2photo", "unaligned", ("train", "test")),
    "summer2winter_yosemite": ("summer2winter_yosemite", "unaligned", ("train", "test")),
}


def register_builtin_translation(root=None):
    """Register the official pix2pix / CycleGAN datasets as ``<name>_<phase>`` (e.g.
    ``facades_train``, ``horse2zebra_test``) at ``$DETECTRON2_DATASETS/<name>`` (default
    ``./datasets``; nothing is read until a split is loaded). Names already registered are
    left alone."""
    root = root or os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))
    for name, (folder, layout, phases) in _BUILTIN.items():
        register = register_aligned_dataset if layout == "aligned" else register_unaligned_dataset
        for phase in phases:
            if f"{name}_{phase}" not in DatasetCatalog.list():
                register(f"{name}_{phase}", os.path.join(root, folder), phase)


def load_single_dataset(
    folder: str, *, max_dataset_size: Optional[int] = None, image_sizes: bool = True
) -> List[dict]:
    """Dicts of the images of ``folder`` (recursively; the official ``single`` dataset of
    ``--model test`` reads ``--dataroot`` itself): ``file_name``, ``image_id``,
    ``dataset_layout="single"`` and the header's ``height`` / ``width``; no target."""
    dicts = []
    for index, file_name in enumerate(_nonempty(list_images(folder, max_dataset_size), folder)):
        d = {"file_name": file_name, "image_id": index, "dataset_layout": "single"}
        size = _header_size(file_name) if image_sizes else None
        if size is not None:
            d["width"], d["height"] = size
        dicts.append(d)
    return dicts


def register_single_dataset(
    name: str,
    folder: str,
    *,
    max_dataset_size: Optional[int] = None,
    image_sizes: bool = True,
    **metadata,
) -> None:
    """Register the images of ``folder`` (no pairs, no targets: inference only) as dataset
    ``name``; metadata ``image_root`` = ``folder``, ``phase`` = None."""
    loader = functools.partial(
        load_single_dataset, folder, max_dataset_size=max_dataset_size, image_sizes=image_sizes
    )
    _register(name, loader, "single", folder, None, max_dataset_size, metadata)


# ---------------------------------------------------------------------------------------------
# Transforms (numpy uint8 H×W×C images; resizing goes through PIL, as the official code's)


class PaddedCropTransform(T.CropTransform):
    """``CropTransform`` with PIL's ``Image.crop`` semantics: the parts of the box outside the
    image are zeros (the official crop of a too-small image pads it with black)."""

    def apply_image(self, img):
        h, w = img.shape[:2]
        x0, y0 = self.x0, self.y0
        if x0 >= 0 and y0 >= 0 and x0 + self.w <= w and y0 + self.h <= h:
            return img[y0 : y0 + self.h, x0 : x0 + self.w]
        out = np.zeros((self.h, self.w) + img.shape[2:], img.dtype)
        sx0, sy0 = max(x0, 0), max(y0, 0)
        sx1, sy1 = min(x0 + self.w, w), min(y0 + self.h, h)
        if sx1 > sx0 and sy1 > sy0:
            out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = img[sy0:sy1, sx0:sx1]
        return out


def _resize(h, w, new_h, new_w):
    if (new_h, new_w) == (h, w):
        return T.NoOpTransform()
    return T.ResizeTransform(h, w, new_h, new_w, Image.BICUBIC)


def _crop_if_larger(h, w, x, y, size):
    """The official crop at ``(x, y)``: applied when the image exceeds ``size`` in a side."""
    if w > size or h > size:
        return PaddedCropTransform(x, y, size, size, w, h)
    return T.NoOpTransform()


def _multiple_of(side: int, base: int) -> int:
    return int(round(side / base) * base)  # Python's round: halves to even (10/4 -> 8)


class MakeMultipleOf(T.Augmentation):
    """Bicubic resize of each side to the nearest multiple of ``base`` (``round(side / base) *
    base`` with Python's ``round``: a side of 10 with base 4 becomes 8, 14 becomes 16); no-op if
    both already are: the official ``--preprocess none`` (base 4)."""

    def __init__(self, base: int = _MULTIPLE):
        super().__init__()
        self.base = int(base)

    def get_transform(self, image):
        h, w = image.shape[:2]
        new_h, new_w = _multiple_of(h, self.base), _multiple_of(w, self.base)
        if new_h < 1 or new_w < 1:
            raise ValueError(
                f"a {w}x{h} image is too small to round its sides to multiples of {self.base}"
            )
        return _resize(h, w, new_h, new_w)


class ScaleWidth(T.Augmentation):
    """Bicubic resize to width ``width`` and height ``int(max(width * h / w, min_height))``
    (aspect ratio kept unless that is below ``min_height``); no-op when the width already is
    ``width`` and the height at least ``min_height``: the official ``scale_width`` step."""

    def __init__(self, width: int, min_height: int):
        super().__init__()
        self.width, self.min_height = int(width), int(min_height)

    def get_transform(self, image):
        h, w = image.shape[:2]
        if w == self.width and h >= self.min_height:
            return T.NoOpTransform()
        return _resize(h, w, int(max(self.width * h / w, self.min_height)), self.width)


class CenterCrop(T.Augmentation):
    """``size`` x ``size`` crop at ``((w - size) // 2, (h - size) // 2)`` (clipped at 0) when the
    image exceeds ``size`` in a side, zero-padded where the box leaves the image (PIL's crop);
    no-op otherwise. The deterministic test-time stand-in of the official random crop."""

    def __init__(self, size: int):
        super().__init__()
        self.size = int(size)

    def get_transform(self, image):
        h, w = image.shape[:2]
        x, y = max(0, w - self.size) // 2, max(0, h - self.size) // 2
        return _crop_if_larger(h, w, x, y, self.size)


def translation_test_augmentation(preprocess: str, crop_size: int) -> List[T.Augmentation]:
    """The test transform of ``preprocess`` (the official test: ``load_size = crop_size``, no
    flip), deterministic:

    - ``resize_and_crop``: bicubic resize to ``crop_size`` x ``crop_size``
      (``T.Resize((crop_size, crop_size), Image.BICUBIC)``);
    - ``scale_width``: :class:`ScaleWidth` ``(crop_size, crop_size)``;
    - ``crop``: :class:`CenterCrop` ``(crop_size)``; ``scale_width_and_crop``: ``ScaleWidth``
      then ``CenterCrop`` (the official test draws the crop position at random even at test
      time; a centre crop keeps the evaluation and ``Predictor`` deterministic);
    - ``none``: :class:`MakeMultipleOf` ``(4)``.
    """
    _check_choice("INPUT.GAN.PREPROCESS", preprocess, PREPROCESS_MODES)
    if preprocess == "resize_and_crop":
        return [T.Resize((crop_size, crop_size), Image.BICUBIC)]
    if preprocess == "none":
        return [MakeMultipleOf(_MULTIPLE)]
    augs = [ScaleWidth(crop_size, crop_size)] if "scale_width" in preprocess else []
    if "crop" in preprocess:
        augs.append(CenterCrop(crop_size))
    return augs


def build_translation_test_augmentation(cfg) -> List[T.Augmentation]:
    """:func:`translation_test_augmentation` of ``cfg.INPUT.GAN`` (``PREPROCESS``,
    ``CROP_SIZE``): the test transform shared by the evaluation loader and ``Predictor``."""
    g = _gan_input(cfg)
    return translation_test_augmentation(g.PREPROCESS, g.CROP_SIZE)


def _check_choice(key, value, choices):
    if value not in choices:
        raise ValueError(f"{key}={value!r}: expected one of {', '.join(map(str, choices))}")


def _gan_input(cfg):
    if "GAN" not in cfg.INPUT:
        raise KeyError(
            "cfg has no INPUT.GAN keys: add them with vision_plugins.gan.config.add_gan_config"
        )
    return cfg.INPUT.GAN


# ---------------------------------------------------------------------------------------------
# Mapper


def _grayscale(image: np.ndarray) -> np.ndarray:
    """RGB -> H×W×1 luma, PIL's ``convert("L")`` (the official ``Grayscale(1)``)."""
    return np.asarray(Image.fromarray(image).convert("L"))[:, :, None]


def _to_tensor(image: np.ndarray, image_format: str) -> torch.Tensor:
    if image_format == "BGR" and image.shape[2] == 3:
        image = image[:, :, ::-1]
    return torch.as_tensor(np.ascontiguousarray(image.astype("float32").transpose(2, 0, 1)))


class TranslationMapper:
    """Dataset mapper of image-to-image translation data, every layout (by the dict's
    ``dataset_layout``; module doc): one mapper for every translation model, so that a dataset,
    not the model, decides how pairs are read (an unaligned validation set with known
    translations can evaluate a paired model too).

    Output (``image`` etc.: float32 C×H×W tensors with the uint8 values of the transformed
    image, in ``INPUT.FORMAT`` channel order -- configs of translation models use ``"RGB"``;
    C = 1 where ``MODEL.GAN.INPUT_NC`` / ``OUTPUT_NC`` is 1, converted to luma first as the
    official ``Grayscale``):

    - aligned: ``image`` = A (left half), ``target`` = B; ``INPUT.GAN.DIRECTION`` ``BtoA`` swaps
      them. Training: **one** parameter draw for both halves, the official order with Python's
      ``random``: ``x = randint(0, max(0, W - CROP_SIZE))``, ``y = randint(0, max(0, H -
      CROP_SIZE))``, ``flip = random() > 0.5`` (``W``, ``H``: the size after the resize step as
      the official computes it: ``LOAD_SIZE`` for ``resize_and_crop``, ``LOAD_SIZE`` and
      ``LOAD_SIZE * h // w`` for ``scale_width_and_crop``, else the half's own size), drawn for
      every PREPROCESS and even with ``NO_FLIP``;
    - unaligned: ``image`` = A, ``image_B`` = B (with targets: ``target`` = the translation of
      ``image``, ``target_B`` = of ``image_B``); ``BtoA`` swaps the domains (and ``file_name`` /
      ``file_name_B``). Training: B is ``file_name_B`` with ``INPUT.GAN.SERIAL_BATCHES``, else
      drawn with ``random.randint(0, num_B - 1)`` first; then A and B are transformed
      independently, as the official ``RandomCrop`` / ``RandomHorizontalFlip``, with **torch's**
      generator: crop ``top = torch.randint(0, H - CROP_SIZE + 1)`` then ``left`` likewise (no
      draw when the image already is CROP_SIZE²; an image smaller than CROP_SIZE raises), flip
      when ``torch.rand(1) < 0.5``. A target gets the transform of its source.
    - single images (no ``dataset_layout``, or ``"single"``: a bare ``{"file_name", ...}`` dict,
      e.g. a folder of :func:`load_single_dataset`): ``image`` only, transformed as one
      unaligned side (the official ``single`` dataset of ``--model test``), with
      ``MODEL.GAN.INPUT_NC`` channels: the channels of the model's input (the official single
      dataset takes OUTPUT_NC under BtoA; equal unless one side is grayscale).
    - ``height`` / ``width``: size of ``image`` before the transform (as ``Predictor``), plus
      the dict's other keys.

    Training transform (``INPUT.GAN``): ``resize_and_crop``: bicubic resize to LOAD_SIZE²,
    crop CROP_SIZE² at the drawn position; ``crop``: the crop only; ``scale_width``: bicubic
    resize to width LOAD_SIZE and height ``int(max(LOAD_SIZE * h / w, CROP_SIZE))``;
    ``scale_width_and_crop``: both; ``none``: sides rounded to multiples of 4 (bicubic); then the
    horizontal flip unless ``NO_FLIP``. The aligned crop is skipped when the image does not
    exceed CROP_SIZE in either side and zero-pads where it leaves the image (PIL's crop).

    Test mode (``is_train=False``): no random draw; ``augmentations`` (``build_mapper`` passes
    the config's test transform, :func:`build_translation_test_augmentation`, the one
    ``Predictor`` applies) are applied to ``image``; its transform is reused for ``target`` of
    the same size; ``image_B`` (the serial B) gets its own. So ``image`` equals
    ``Predictor.preprocess`` of the same picture (the file, or the half of an aligned file).
    """

    @configurable
    def __init__(
        self,
        is_train: bool = True,
        *,
        preprocess: str = "resize_and_crop",
        load_size: int = 286,
        crop_size: int = 256,
        no_flip: bool = False,
        direction: str = "AtoB",
        serial_batches: bool = False,
        image_format: str = "RGB",
        input_nc: int = 3,
        output_nc: int = 3,
        augmentations: Optional[Sequence[T.Augmentation]] = None,
    ):
        _check_choice("INPUT.GAN.PREPROCESS", preprocess, PREPROCESS_MODES)
        _check_choice("INPUT.GAN.DIRECTION", direction, DIRECTIONS)
        _check_choice("INPUT.FORMAT", image_format, ("RGB", "BGR"))
        for key, nc in (("INPUT_NC", input_nc), ("OUTPUT_NC", output_nc)):
            _check_choice(f"MODEL.GAN.{key}", nc, (1, 3))
        self.is_train = is_train
        self.preprocess, self.load_size, self.crop_size = preprocess, int(load_size), int(crop_size)
        self.no_flip, self.direction, self.serial_batches = no_flip, direction, serial_batches
        self.image_format = image_format
        # channels of the A-domain and B-domain images (the input side is A unless BtoA)
        btoa = direction == "BtoA"
        self.channels = (output_nc, input_nc) if btoa else (input_nc, output_nc)
        self.input_nc = input_nc
        if augmentations is None and not is_train:
            augmentations = translation_test_augmentation(preprocess, crop_size)
        self.augmentations = T.AugmentationList(list(augmentations or []))

    @classmethod
    def from_config(cls, cfg, is_train: bool = True, augmentations=None):
        g = _gan_input(cfg)
        gan = cfg.MODEL.get("GAN", {})
        return {
            "is_train": is_train,
            "preprocess": g.PREPROCESS,
            "load_size": g.LOAD_SIZE,
            "crop_size": g.CROP_SIZE,
            "no_flip": g.NO_FLIP,
            "direction": g.DIRECTION,
            "serial_batches": g.SERIAL_BATCHES,
            "image_format": cfg.INPUT.FORMAT,
            "input_nc": gan.get("INPUT_NC", 3),
            "output_nc": gan.get("OUTPUT_NC", 3),
            "augmentations": augmentations,
        }

    def __repr__(self):
        mode = "train" if self.is_train else f"test, {self.augmentations}"
        return (
            f"TranslationMapper({mode}, preprocess={self.preprocess}, load_size={self.load_size}, "
            f"crop_size={self.crop_size}, no_flip={self.no_flip}, direction={self.direction})"
        )

    # -- decoding -------------------------------------------------------------------------

    def _read(self, file_name: str, channels: int) -> np.ndarray:
        image = read_image(file_name, "RGB")
        return _grayscale(image) if channels == 1 else image

    # -- training transforms --------------------------------------------------------------

    def _resize_step(self, h: int, w: int):
        if "resize" in self.preprocess:
            return _resize(h, w, self.load_size, self.load_size)
        if "scale_width" in self.preprocess:
            return ScaleWidth(self.load_size, self.crop_size).get_transform(np.empty((h, w, 0)))
        return T.NoOpTransform()

    def _train_transform(self, h: int, w: int, crop, flip: bool) -> T.TransformList:
        """The training transform of an h×w image; ``crop(h, w)`` -> the crop transform of the
        resized size (or None); ``flip``: whether to flip (when NO_FLIP is off)."""
        tfms = [self._resize_step(h, w)]
        h, w = _size_after(tfms[0], h, w)
        if "crop" in self.preprocess:
            tfms.append(crop(h, w))
            h, w = _size_after(tfms[-1], h, w)
        if self.preprocess == "none":
            tfms.append(MakeMultipleOf(_MULTIPLE).get_transform(np.empty((h, w, 0))))
            h, w = _size_after(tfms[-1], h, w)
        if not self.no_flip and flip():
            tfms.append(T.HFlipTransform(w))
        return T.TransformList(tfms)

    def _aligned_train_transform(self, h: int, w: int) -> T.TransformList:
        new_w, new_h = w, h
        if self.preprocess == "resize_and_crop":
            new_w = new_h = self.load_size
        elif self.preprocess == "scale_width_and_crop":
            new_w, new_h = self.load_size, self.load_size * h // w
        x = random.randint(0, max(0, new_w - self.crop_size))
        y = random.randint(0, max(0, new_h - self.crop_size))
        flip = random.random() > 0.5
        return self._train_transform(
            h, w, lambda ch, cw: _crop_if_larger(ch, cw, x, y, self.crop_size), lambda: flip
        )

    def _random_crop(self, h: int, w: int):
        size = self.crop_size
        if h < size or w < size:
            raise ValueError(
                f"the {w}x{h} image (after INPUT.GAN.PREPROCESS={self.preprocess!r}) is smaller "
                f"than INPUT.GAN.CROP_SIZE={size} (the official random crop refuses it too)"
            )
        if (h, w) == (size, size):
            return T.NoOpTransform()
        top = int(torch.randint(0, h - size + 1, size=(1,)).item())
        left = int(torch.randint(0, w - size + 1, size=(1,)).item())
        return PaddedCropTransform(left, top, size, size, w, h)

    def _independent_train_transform(self, h: int, w: int) -> T.TransformList:
        return self._train_transform(h, w, self._random_crop, lambda: bool(torch.rand(1) < 0.5))

    # -- mapping --------------------------------------------------------------------------

    def _apply(self, image: np.ndarray, transform) -> Tuple[np.ndarray, T.Transform]:
        """``image`` transformed: by ``transform`` (training), else by the test augmentations."""
        if transform is not None:
            return transform.apply_image(image), transform
        aug_input = T.AugInput(image)
        transform = self.augmentations(aug_input)
        return aug_input.image, transform

    def _apply_same(self, image: np.ndarray, source_shape, transform) -> np.ndarray:
        if image.shape[:2] == tuple(source_shape[:2]):
            return transform.apply_image(image)
        if self.is_train:
            raise ValueError(
                f"a pair of images of different sizes: {image.shape[1]}x{image.shape[0]} and "
                f"{source_shape[1]}x{source_shape[0]}"
            )
        return self._apply(image, None)[0]

    def __call__(self, dataset_dict: dict) -> dict:
        layout = dataset_dict.get("dataset_layout", "single")
        if layout == "aligned":
            return self._map_aligned(dict(dataset_dict))
        if layout == "unaligned":
            return self._map_unaligned(dict(dataset_dict))
        if layout == "single":
            return self._map_single(dict(dataset_dict))
        raise ValueError(
            f"dataset dict of {dataset_dict.get('file_name')!r} has dataset_layout={layout!r}: "
            f"expected 'aligned', 'unaligned' or 'single' (or no dataset_layout)"
        )

    def _map_single(self, d: dict) -> dict:
        image = self._read(d["file_name"], self.input_nc)
        transform = self._independent_train_transform(*image.shape[:2]) if self.is_train else None
        out, _ = self._apply(image, transform)
        d.update(image=_to_tensor(out, self.image_format), height=image.shape[0])
        d["width"] = image.shape[1]
        return d

    def _map_aligned(self, d: dict) -> dict:
        file_name = d["file_name"]
        ab = read_image(file_name, "RGB")
        h, w = ab.shape[:2]
        check_aligned_width(w, h, file_name)
        if self.is_train and self.load_size < self.crop_size:
            raise ValueError(
                f"INPUT.GAN.LOAD_SIZE={self.load_size} < CROP_SIZE={self.crop_size} (aligned data "
                f"needs LOAD_SIZE >= CROP_SIZE, as the official aligned dataset asserts)"
            )
        halves = [ab[:, : w // 2], ab[:, w // 2 :]]
        halves = [_grayscale(x) if c == 1 else x for x, c in zip(halves, self.channels)]
        source, target = halves[::-1] if self.direction == "BtoA" else halves
        transform = self._aligned_train_transform(h, w // 2) if self.is_train else None
        image, transform = self._apply(source, transform)
        d.update(
            image=_to_tensor(image, self.image_format),
            target=_to_tensor(self._apply_same(target, source.shape, transform), self.image_format),
            height=h,
            width=w // 2,
        )
        return d

    def _draw_B(self, d: dict) -> Tuple[str, Optional[str]]:
        """``(file_name_B, its target or None)``: the serial B, or a random one (module doc)."""
        if not self.is_train or self.serial_batches:
            return d["file_name_B"], d.get("file_name_B_target")
        if "dir_B" not in d or "num_B" not in d:
            raise KeyError(
                "a random B needs the dict keys 'dir_B' and 'num_B' (datasets of "
                "register_unaligned_dataset have them); or set INPUT.GAN.SERIAL_BATCHES True"
            )
        pool = _cached_listing(d["dir_B"], d.get("max_dataset_size"))
        if len(pool) != d["num_B"]:
            raise RuntimeError(
                f"{d['dir_B']!r} has {len(pool)} images now, {d['num_B']} when the dataset was "
                f"loaded: reload the dataset"
            )
        file_B = pool[random.randint(0, len(pool) - 1)]
        target = d.get("dir_B_target")
        return file_B, None if target is None else _target(file_B, d["dir_B"], target)

    def _map_unaligned(self, d: dict) -> dict:
        file_B, file_B_target = self._draw_B(d)
        domains = []  # per domain, A then B: (file, target file, size, image, target)
        for file_name, target_file, channels in (
            (d["file_name"], d.get("file_name_target"), self.channels[0]),
            (file_B, file_B_target, self.channels[1]),
        ):
            image = self._read(file_name, channels)
            transform = None
            if self.is_train:
                transform = self._independent_train_transform(*image.shape[:2])
            out, transform = self._apply(image, transform)
            target = None
            if target_file is not None:
                target = self._apply_same(self._read(target_file, channels), image.shape, transform)
            domains.append((file_name, target_file, image.shape[:2], out, target))
        if self.direction == "BtoA":
            domains.reverse()
        first, second = domains
        d.update(file_name=first[0], file_name_B=second[0], height=first[2][0], width=first[2][1])
        d["image"] = _to_tensor(first[3], self.image_format)
        d["image_B"] = _to_tensor(second[3], self.image_format)
        for suffix, (_, target_file, _, _, target) in (("", first), ("_B", second)):
            d.pop(f"file_name{suffix}_target", None)
            if target is not None:
                d[f"file_name{suffix}_target"] = target_file
                d[f"target{suffix}"] = _to_tensor(target, self.image_format)
        return d


def _size_after(transform, h: int, w: int) -> Tuple[int, int]:
    if isinstance(transform, T.ResizeTransform):
        return transform.new_h, transform.new_w
    if isinstance(transform, T.CropTransform):
        return transform.h, transform.w
    return h, w
