"""Super-resolution data: MATLAB-compatible bicubic ``imresize``, dataset registration, the
synthetic ``vp_sr_{train,val}`` sets and :class:`SRMapper`.

**Bicubic resize** (:func:`imresize`). The benchmark protocol (SRGAN, ESRGAN, BasicSR's test
sets, DIV2K's ``LR_bicubic``) makes the low-resolution (LR) image with MATLAB's
``imresize(HR, 1/scale, 'bicubic')``; PIL / OpenCV / torch bicubic differ from it (no
antialiasing, or another kernel), so this module implements MATLAB's semantics itself, in numpy:

- cubic kernel with ``a = -0.5`` (Keys): ``1.5|x|³ - 2.5|x|² + 1`` on ``|x| <= 1``,
  ``-0.5|x|³ + 2.5|x|² - 4|x| + 2`` on ``1 < |x| <= 2``, kernel width 4;
- antialiasing when downscaling (``scale < 1``): the kernel is widened to ``h(x) = scale ·
  k(scale · x)`` with width ``4 / scale``;
- output pixel ``x`` (1-based) samples the input at ``u = x / scale + 0.5 · (1 - 1 / scale)``,
  taps ``floor(u - width / 2) + (0 .. ceil(width) + 1)``, weights normalised to sum 1;
- symmetric boundary: out-of-range taps mirror with the edge pixel repeated
  (``[1..n, n..1]`` periodically);
- separable: the dimension with the smaller scale is resized first (rows first on a tie);
- output size ``ceil(scale · size)`` given a scale; given an output size, ``scale = out / in``
  per dimension (the SR code passes sizes: exact for mod-cropped images);
- **uint8 input**: every 1-D pass is rounded (half away from zero) and saturated to uint8, as
  MATLAB's ``imresizemex`` returns the input's class (the numpy port fatheral/matlab_imresize,
  which rounds each pass so, reports zero difference to MATLAB R2015b on a uint8 photo; no
  MATLAB uint8 output was available here to test against); float input stays float64,
  unclipped. The two differ by at most one grey level.

It reproduces the MATLAB outputs published with ``bicubic_pytorch`` (``test_answer/*.mat``,
made by ``imresize(..., 'bicubic', 'antialiasing', true|false)``) to 1e-12; the tests hold
those numbers. PyPI alternatives were checked against the same numbers (see
``tests/data/test_super_resolution.py``): ``bicubic-pytorch`` 0.1.2.1 matches in float but needs
``imageio`` and has no uint8 path (it rounds only once, at the end); ``resize-right`` 0.0.2 does
not follow MATLAB's boundary rule. Neither is used.

**Datasets.** Dataset dicts (``DatasetCatalog``):

- HR only (:func:`register_sr_hr_folder`; ``dataset_layout="sr_hr"``): ``file_name`` (HR
  image), ``image_id``, ``height`` / ``width`` (the HR file's size, from its header). The mapper
  mod-crops the HR image to a multiple of its scale (top-left kept, as BasicSR's ``mod_crop``)
  and makes the LR image from the **whole** mod-cropped HR image with :func:`imresize` (uint8).
  The scale is the mapper's (``INPUT.SR.SCALE``), so one HR set serves every scale; the
  ``scale`` in its metadata is only the default for the evaluator's border.
- paired (:func:`register_sr_paired`; ``dataset_layout="sr_paired"``): also ``lr_file_name``
  and ``sr_scale``. LR and HR files are matched by name: the LR stem is
  ``lr_name_template.format(HR stem)`` (``"{}"``: same name; DIV2K's LR files are
  ``"{}x4"``), any image extension. Registration checks (when the dataset is loaded, from the
  file headers) that ``HR size // scale == LR size``; an HR image up to ``scale - 1`` pixels
  larger is mod-cropped, anything else raises naming both files.

Metadata: ``evaluator_type="super_resolution"``, ``scale``, ``dataset_layout``, ``hr_folder``
(and ``lr_folder``).

Builtin names (registered on import, nothing read until loaded; a missing folder raises naming
it and the expected layout) under ``$DETECTRON2_DATASETS`` (default ``./datasets``), for
``s`` in 2, 3, 4: ``div2k_train_x{s}`` / ``div2k_valid_x{s}`` (``DIV2K/DIV2K_{train,valid}_HR``
with ``DIV2K/DIV2K_{train,valid}_LR_bicubic/X{s}/NNNNx{s}.png`` when that folder exists, else LR
made from HR), ``set5_x{s}``, ``set14_x{s}``, ``bsd100_x{s}``, ``urban100_x{s}``,
``manga109_x{s}`` (``benchmark/<Name>/HR`` + optional ``benchmark/<Name>/LR_bicubic/X{s}`` with
``<stem>x{s}`` files, the layout of the EDSR benchmark archive; BSD100 is ``benchmark/B100``).

**Synthetic** ``vp_sr_train`` (200) / ``vp_sr_val`` (24): 96 × 96 RGB HR images
(:func:`render_sr_image`) generated on first use under
``$VP_DATASETS/vp_sr_v1/<split>/images/<split>/``; HR only (LR made by the mapper).
"""

import functools
import json
import math
import os
import random
from typing import List, Optional, Sequence

import cv2
import numpy as np
import torch
from detectron2.config import CfgNode as CN
from detectron2.config import configurable
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import transforms as T

from ..config import register_config
from .image_io import read_image
from .synthetic.common import SyntheticSpec, add_synthetic_family, image_rng
from .translation import _header_size, list_images

__all__ = [
    "cubic",
    "resize_weights",
    "imresize",
    "mod_crop",
    "bicubic_downsample",
    "add_sr_input_config",
    "load_sr_hr_folder",
    "load_sr_paired",
    "register_sr_hr_folder",
    "register_sr_paired",
    "register_builtin_sr",
    "render_sr_image",
    "SR_SYNTHETIC_SPECS",
    "SRMapper",
    "load_sr_pair",
    "sr_lr_image",
    "build_sr_test_augmentation",
]

# ---------------------------------------------------------------------------------------------
# MATLAB-compatible bicubic imresize


def cubic(x):
    """Keys' cubic kernel with ``a = -0.5`` (MATLAB's ``cubic``), float64."""
    ax = np.abs(np.asarray(x, np.float64))
    ax2, ax3 = ax * ax, ax * ax * ax
    inner = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return inner + outer


def resize_weights(in_length: int, out_length: int, scale: float, antialiasing: bool = True):
    """The (out_length, in_length) float64 matrix ``W`` of MATLAB's 1-D bicubic resize
    (module doc): ``out = W @ in``. Mirrored taps are added to the pixel they mirror to."""
    if in_length < 1 or out_length < 1:
        raise ValueError(f"cannot resize a length of {in_length} to {out_length}")
    width, stretch = 4.0, 1.0
    if scale < 1 and antialiasing:  # h(x) = scale * cubic(scale * x), width 4 / scale
        width, stretch = width / scale, scale

    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]  # 1-based
    weights = stretch * cubic(stretch * (u[:, None] - indices))
    weights = weights / weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    idx = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    matrix = np.zeros((out_length, in_length), np.float64)
    np.add.at(matrix, (np.repeat(np.arange(out_length), taps), idx.ravel()), weights.ravel())
    return matrix


def _round_uint8(x):
    """MATLAB's conversion of a double to uint8: round half away from zero, saturate."""
    return np.clip(np.floor(np.clip(x, 0, None) + 0.5), 0, 255).astype(np.uint8)


def _apply(image, matrix, axis, to_uint8):
    out = np.tensordot(matrix, image.astype(np.float64), axes=([1], [axis]))
    out = np.moveaxis(out, 0, axis)
    return _round_uint8(out) if to_uint8 else out


def _plan(shape, scale, output_shape):
    """``(out sizes, scales)`` of the two spatial dimensions (MATLAB's rules)."""
    if (scale is None) == (output_shape is None):
        raise ValueError("imresize: give exactly one of scale and output_shape")
    if output_shape is not None:
        out = tuple(int(v) for v in output_shape)
        if len(out) != 2 or min(out) < 1:
            raise ValueError(f"imresize: output_shape={output_shape!r} is not (height, width) >= 1")
        return out, (out[0] / shape[0], out[1] / shape[1])
    if np.ndim(scale) == 0:
        scale = (float(scale), float(scale))
    scales = tuple(float(s) for s in scale)
    if min(scales) <= 0:
        raise ValueError(f"imresize: scale={scale!r} must be positive")
    return tuple(int(math.ceil(s * n)) for s, n in zip(scales, shape)), scales


def imresize(image, scale=None, output_shape=None, antialiasing: bool = True, rows=None,
             cols=None):  # fmt: skip
    """MATLAB ``imresize(image, scale | [h w], 'bicubic')`` of an H × W or H × W × C numpy array
    (module doc): uint8 in -> uint8 out (each pass rounded), any other dtype -> float64.

    ``rows`` / ``cols`` (slices of the output, optional): compute only that window of the
    output, with exactly the values of the full resize (only the input pixels it needs are
    read) -- how :class:`SRMapper` makes an LR crop of a large HR image cheaply."""
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"imresize: expected an H x W or H x W x C array, got {image.shape}")
    (out_h, out_w), (scale_h, scale_w) = _plan(image.shape[:2], scale, output_shape)
    to_uint8 = image.dtype == np.uint8
    mats = [resize_weights(image.shape[0], out_h, scale_h, antialiasing),
            resize_weights(image.shape[1], out_w, scale_w, antialiasing)]  # fmt: skip
    for axis, window in ((0, rows), (1, cols)):
        if window is not None:
            mats[axis] = mats[axis][window]
    # restrict the input to the pixels the kept outputs read (exact: the rest have weight 0)
    spans = []
    for axis in (0, 1):
        used = np.nonzero(np.any(mats[axis] != 0, axis=0))[0]
        lo, hi = (int(used[0]), int(used[-1]) + 1) if len(used) else (0, 0)
        mats[axis] = mats[axis][:, lo:hi]
        spans.append(slice(lo, hi))
    out = image[spans[0], spans[1]]
    # MATLAB: the dimension with the smaller scale first (rows on a tie)
    for axis in (0, 1) if scale_h <= scale_w else (1, 0):
        out = _apply(out, mats[axis], axis, to_uint8)
    return out


def mod_crop(image, scale: int):
    """The top-left ``(H - H % scale) × (W - W % scale)`` part of an H × W (× C) array
    (BasicSR's ``mod_crop``)."""
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]


def bicubic_downsample(hr, scale: int):
    """LR image of an HR image: ``imresize(mod_crop(hr, scale), output_shape=(H/scale,
    W/scale))`` (uint8 stays uint8, as MATLAB's)."""
    hr = mod_crop(np.asarray(hr), int(scale))
    h, w = hr.shape[:2]
    if h < scale or w < scale:
        raise ValueError(f"a {w}x{h} image is smaller than the scale {scale}")
    return imresize(hr, output_shape=(h // scale, w // scale))


# ---------------------------------------------------------------------------------------------
# config


@register_config
def add_sr_input_config(cfg):
    """``INPUT.SR`` (idempotent; new keys only): the data side of super-resolution models."""
    if "SR" in cfg.INPUT:
        return cfg
    cfg.INPUT.SR = CN()
    cfg.INPUT.SR.SCALE = 4  # upscaling factor: LR = HR / SCALE (BasicSR "scale")
    cfg.INPUT.SR.GT_SIZE = 128  # training HR crop (BasicSR "gt_size"); LR crop = GT_SIZE / SCALE
    cfg.INPUT.SR.USE_HFLIP = True  # training: horizontal flip with p = 0.5 (BasicSR "use_hflip")
    cfg.INPUT.SR.USE_ROT = True  # training: vertical flip and transpose, each p = 0.5 ("use_rot")
    return cfg


# ---------------------------------------------------------------------------------------------
# datasets


def _sizes(file_name):
    size = _header_size(file_name)
    if size is None:
        raise ValueError(f"cannot read the image header of {file_name!r}")
    return size  # (width, height)


def load_sr_hr_folder(hr_folder: str, image_sizes: bool = True) -> List[dict]:
    """Dicts of the HR images under ``hr_folder`` (module doc)."""
    if not os.path.isdir(hr_folder):
        raise FileNotFoundError(f"HR image folder {hr_folder!r} does not exist")
    files = list_images(hr_folder)
    if not files:
        raise ValueError(f"no image files in HR folder {hr_folder!r}")
    dicts = []
    for index, file_name in enumerate(files):
        d = {"file_name": file_name, "image_id": index, "dataset_layout": "sr_hr"}
        if image_sizes:
            d["width"], d["height"] = _sizes(file_name)
        dicts.append(d)
    return dicts


def _stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def load_sr_paired(lr_folder: str, hr_folder: str, scale: int,
                   lr_name_template: str = "{}") -> List[dict]:  # fmt: skip
    """Dicts of the LR/HR pairs of two folders (module doc): every HR image needs its LR image;
    sizes are checked from the headers."""
    for what, folder in (("LR", lr_folder), ("HR", hr_folder)):
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{what} image folder {folder!r} does not exist")
    lr_files = {}
    for f in list_images(lr_folder):
        lr_files.setdefault(os.path.relpath(os.path.join(os.path.dirname(f), _stem(f)),
                                            lr_folder), f)  # fmt: skip
    hr_files = list_images(hr_folder)
    if not hr_files:
        raise ValueError(f"no image files in HR folder {hr_folder!r}")
    dicts = []
    for index, hr in enumerate(hr_files):
        rel = os.path.relpath(os.path.dirname(hr), hr_folder)
        key = os.path.normpath(os.path.join(rel, lr_name_template.format(_stem(hr))))
        if key not in lr_files:
            raise FileNotFoundError(
                f"HR image {hr!r} has no LR image {key!r}.* in {lr_folder!r} (LR names are "
                f"lr_name_template={lr_name_template!r} of the HR name)"
            )
        lr = lr_files[key]
        (lw, lh), (hw, hh) = _sizes(lr), _sizes(hr)
        if (hh // scale, hw // scale) != (lh, lw):
            raise ValueError(
                f"LR image {lr!r} is {lw}x{lh} but HR image {hr!r} is {hw}x{hh}: at scale "
                f"{scale} the LR image must be {hw // scale}x{hh // scale} (width x height)"
            )
        dicts.append({"file_name": hr, "lr_file_name": lr, "image_id": index, "sr_scale": scale,
                      "dataset_layout": "sr_paired", "width": hw, "height": hh})  # fmt: skip
    return dicts


def register_sr_hr_folder(name: str, hr_folder: str, scale: int = 4, **metadata) -> None:
    """Register the HR images of ``hr_folder`` as dataset ``name``; the LR images are made on the
    fly by :class:`SRMapper` (module doc). ``metadata`` is added to the defaults."""
    DatasetCatalog.register(name, functools.partial(load_sr_hr_folder, hr_folder))
    MetadataCatalog.get(name).set(
        **{"evaluator_type": "super_resolution", "scale": int(scale), "dataset_layout": "sr_hr",
           "hr_folder": hr_folder, **metadata}  # fmt: skip
    )


def register_sr_paired(name: str, lr_folder: str, hr_folder: str, scale: int = 4,
                       lr_name_template: str = "{}", **metadata) -> None:  # fmt: skip
    """Register the LR/HR pairs of ``lr_folder`` / ``hr_folder`` as dataset ``name`` (module
    doc)."""
    loader = functools.partial(load_sr_paired, lr_folder, hr_folder, int(scale), lr_name_template)
    DatasetCatalog.register(name, loader)
    MetadataCatalog.get(name).set(
        **{"evaluator_type": "super_resolution", "scale": int(scale),
           "dataset_layout": "sr_paired", "hr_folder": hr_folder, "lr_folder": lr_folder,
           **metadata}  # fmt: skip
    )


# name -> (HR folder, LR folder with {s}, LR name template with {s}), under the datasets root
_BUILTIN_SR = {
    "div2k_train": ("DIV2K/DIV2K_train_HR", "DIV2K/DIV2K_train_LR_bicubic/X{s}", "{{}}x{s}"),
    "div2k_valid": ("DIV2K/DIV2K_valid_HR", "DIV2K/DIV2K_valid_LR_bicubic/X{s}", "{{}}x{s}"),
    "set5": ("benchmark/Set5/HR", "benchmark/Set5/LR_bicubic/X{s}", "{{}}x{s}"),
    "set14": ("benchmark/Set14/HR", "benchmark/Set14/LR_bicubic/X{s}", "{{}}x{s}"),
    "bsd100": ("benchmark/B100/HR", "benchmark/B100/LR_bicubic/X{s}", "{{}}x{s}"),
    "urban100": ("benchmark/Urban100/HR", "benchmark/Urban100/LR_bicubic/X{s}", "{{}}x{s}"),
    "manga109": ("benchmark/Manga109/HR", "benchmark/Manga109/LR_bicubic/X{s}", "{{}}x{s}"),
}
BUILTIN_SR_SCALES = (2, 3, 4)


def _load_builtin(name, hr_folder, lr_folder, template, scale):
    """Paired when ``lr_folder`` exists, else HR only; a missing HR folder names the layout."""
    if not os.path.isdir(hr_folder):
        raise FileNotFoundError(
            f"dataset {name!r}: HR folder {hr_folder!r} does not exist. Expected "
            f"$DETECTRON2_DATASETS/{os.path.relpath(hr_folder, _builtin_root())} with the HR "
            f"images (and optionally {os.path.relpath(lr_folder, _builtin_root())} with "
            f"{template.format('<name>')}.png LR images); set DETECTRON2_DATASETS or register "
            f"the folder with register_sr_hr_folder / register_sr_paired"
        )
    if os.path.isdir(lr_folder):
        return load_sr_paired(lr_folder, hr_folder, scale, template)
    return load_sr_hr_folder(hr_folder)


def _builtin_root():
    return os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))


def register_builtin_sr(root: Optional[str] = None) -> None:
    """Register the builtin names (module doc) under ``root`` (default
    ``$DETECTRON2_DATASETS``, else ``./datasets``). Names already registered are left alone."""
    root = root or _builtin_root()
    for base, (hr, lr, template) in _BUILTIN_SR.items():
        for s in BUILTIN_SR_SCALES:
            name = f"{base}_x{s}"
            if name in DatasetCatalog.list():
                continue
            hr_folder = os.path.join(root, hr)
            lr_folder = os.path.join(root, lr.format(s=s))
            tmpl = template.format(s=s)
            DatasetCatalog.register(
                name, functools.partial(_load_builtin, name, hr_folder, lr_folder, tmpl, s)
            )
            MetadataCatalog.get(name).set(evaluator_type="super_resolution", scale=s,
                                          hr_folder=hr_folder, lr_folder=lr_folder)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# synthetic vp_sr

SR_SIZE = 96
SR_VERSION = 1
SR_SPLITS = {"train": 200, "val": 24}
_GLYPHS = "ABEFHKMNRSWXZaegkmswxz0123456789#%&@"


def _colour(rng, lo=0, hi=256):
    return tuple(int(v) for v in rng.integers(lo, hi, size=3))


def _texture(rng, size):
    """Band-limited noise: white noise blurred at a random scale (sigma 0.6-3 px), mostly in
    luminance (H × W × 3 float 0..255)."""
    sigma = float(rng.uniform(0.6, 3.0))
    noise = cv2.GaussianBlur(rng.standard_normal((size, size, 4)), (0, 0), sigma)
    noise = (noise - noise.mean(axis=(0, 1))) / (noise.std(axis=(0, 1)) + 1e-9)
    base = np.array(_colour(rng, 60, 200), np.float64)
    # mostly luminance (one field for the three channels), a little colour
    return base + noise[..., :1] * float(rng.uniform(20, 60)) + noise[..., 1:] * 10.0


def _grating(rng, size):
    """A sinusoidal or square grating of random orientation; period 2.5-24 px (near the HR
    Nyquist limit down to coarse bars: which survive x4 downscaling is the point)."""
    period = float(np.exp(rng.uniform(np.log(2.5), np.log(24.0))))
    theta = float(rng.uniform(0, np.pi))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    phase = 2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period + rng.uniform(0, 6.3)
    wave = np.sin(phase)
    if rng.random() < 0.5:
        wave = np.sign(wave)
    a, b = np.array(_colour(rng), np.float64), np.array(_colour(rng), np.float64)
    return a + (b - a) * (0.5 + 0.5 * wave)[..., None]


def _region_mask(rng, size):
    """A random rectangle, disc or triangle (uint8 0/1), drawn without antialiasing."""
    mask = np.zeros((size, size), np.uint8)
    w, h = (int(v) for v in rng.integers(size // 4, size * 3 // 4, size=2))
    x, y = int(rng.integers(-w // 4, size - w // 2)), int(rng.integers(-h // 4, size - h // 2))
    kind = int(rng.integers(3))
    if kind == 0:
        cv2.rectangle(mask, (x, y), (x + w - 1, y + h - 1), 1, -1, cv2.LINE_8)
    elif kind == 1:
        cv2.ellipse(mask, (x + w // 2, y + h // 2), (w // 2, h // 2), float(rng.uniform(0, 180)),
                    0, 360, 1, -1, cv2.LINE_8)  # fmt: skip
    else:
        pts = np.array([[x + w // 2, y], [x, y + h - 1], [x + w - 1, y + h - 1]], np.int32)
        cv2.fillPoly(mask, [pts], 1, cv2.LINE_8)
    return mask.astype(bool)


def render_sr_image(rng: np.random.Generator, size: int = SR_SIZE) -> np.ndarray:
    """One synthetic HR image (size × size × 3 RGB uint8): a background (smooth gradient or
    texture), 1-3 regions filled with gratings or textures (sharp region edges), 1-4 flat
    polygons / discs, and text-like strokes (Hershey glyphs of 0.3-1.1 scale, 1-2 px thick, and
    polylines) -- the fine detail an MSE-trained upscaler blurs."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    if rng.random() < 0.5:
        a, b = np.array(_colour(rng), np.float64), np.array(_colour(rng), np.float64)
        t = np.clip(xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1) + 0.5, 0, 1)
        image = a + (b - a) * t[..., None]
    else:
        image = _texture(rng, size)
    for _ in range(int(rng.integers(1, 4))):
        fill = _grating(rng, size) if rng.random() < 0.65 else _texture(rng, size)
        mask = _region_mask(rng, size)
        image[mask] = fill[mask]
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(1, 5))):
        colour = _colour(rng)
        c = tuple(int(v) for v in rng.integers(0, size, size=2))
        if rng.random() < 0.5:
            cv2.circle(image, c, int(rng.integers(3, size // 5)), colour, -1, cv2.LINE_8)
        else:
            pts = rng.integers(0, size, size=(int(rng.integers(3, 6)), 2)).astype(np.int32)
            cv2.fillPoly(image, [pts], colour, cv2.LINE_8)
    for _ in range(int(rng.integers(1, 4))):
        text = "".join(rng.choice(list(_GLYPHS), size=int(rng.integers(2, 7))))
        org = (int(rng.integers(-8, size - 16)), int(rng.integers(10, size + 4)))
        cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, float(rng.uniform(0.3, 1.1)),
                    _colour(rng), int(rng.integers(1, 3)), cv2.LINE_8)  # fmt: skip
    for _ in range(int(rng.integers(0, 3))):
        pts = rng.integers(0, size, size=(int(rng.integers(2, 6)), 2)).astype(np.int32)
        cv2.polylines(image, [pts], False, _colour(rng), int(rng.integers(1, 3)), cv2.LINE_8)
    return image


def _generate_sr_split(out_dir: str, num_images: int, seed: int, split: str) -> None:
    folder = os.path.join(out_dir, "images", split)
    os.makedirs(folder)
    for index in range(num_images):
        image = render_sr_image(image_rng(seed, index))
        if not cv2.imwrite(os.path.join(folder, f"{index:06d}.png"), image[:, :, ::-1].copy()):
            raise OSError(f"could not write image {index} to {folder}")
    with open(os.path.join(out_dir, "sr.json"), "w") as fh:
        json.dump({"layout": "sr_hr", "split": split, "num_images": num_images,
                   "size": SR_SIZE, "content": "gradient or texture background, gratings, "
                   "textures, flat shapes, Hershey text and polylines (render_sr_image)"},
                  fh, indent=1, sort_keys=True)  # fmt: skip


def _load_sr_split(json_file, image_root, name, split):
    return load_sr_hr_folder(os.path.join(image_root, split))


def _sr_spec(split, count):
    return SyntheticSpec(
        prefix="vp_sr",
        version=SR_VERSION,
        splits={split: count},
        generate=functools.partial(_generate_sr_split, split=split),
        metadata={"scale": 4, "dataset_layout": "sr_hr"},
        load=functools.partial(_load_sr_split, split=split),
        evaluator_type="super_resolution",
        annotation_file="sr.json",
    )


SR_SYNTHETIC_SPECS = tuple(_sr_spec(s, n) for s, n in SR_SPLITS.items())
add_synthetic_family(*SR_SYNTHETIC_SPECS)


# ---------------------------------------------------------------------------------------------
# mapper


def _to_tensor(image: np.ndarray, image_format: str) -> torch.Tensor:
    if image_format == "BGR":
        image = image[:, :, ::-1]
    return torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)).astype(np.float32))


def _augment(image, hflip, vflip, rot90):
    """BasicSR's ``augment`` of one H × W × C image: horizontal flip, vertical flip, then
    transpose (its "rot90")."""
    if hflip:
        image = image[:, ::-1]
    if vflip:
        image = image[::-1]
    if rot90:
        image = image.transpose(1, 0, 2)
    return image


class SRMapper:
    """Dataset mapper of super-resolution data (both layouts, module doc).

    Output: the dict's keys plus

    - ``"image"``: the LR image, float32 (3, h, w) with uint8 values 0..255, in
      ``INPUT.FORMAT`` channel order (SR configs use ``"RGB"``);
    - ``"target"``: the HR image, float32 (3, s·h, s·w), same format; ``s`` = ``INPUT.SR.SCALE``;
    - ``"height"`` / ``"width"``: h and w, the size of ``"image"`` (the model input, as
      ``Predictor`` gives it; the model's output is s·h × s·w);
    - ``"sr_scale"``: s.

    LR image: for ``sr_hr`` dicts, :func:`imresize` (MATLAB bicubic, uint8) of the whole HR
    image mod-cropped to s (computed only on the window that is kept); for ``sr_paired`` dicts
    the LR file, with the HR image mod-cropped to s·(LR size) (the dict's ``sr_scale`` must
    equal s).

    Training (BasicSR's paired random crop and augment, with Python's ``random``): ``top =
    randint(0, h - p)``, ``left = randint(0, w - p)`` with ``p = GT_SIZE / s`` on the LR image,
    the HR crop at ``(s·top, s·left)`` of size GT_SIZE; then ``hflip = USE_HFLIP and random() <
    0.5``, ``vflip = USE_ROT and random() < 0.5``, ``rot90 = USE_ROT and random() < 0.5``
    applied to both (``rot90`` is a transpose). An LR image smaller than p raises.

    Test mode: the whole images; ``augmentations`` (the config's test transform,
    :func:`build_sr_test_augmentation`: none) are applied to the LR image and must keep its
    size. A dict without ``dataset_layout`` (a bare ``{"file_name": ...}``) is one LR image:
    ``"image"`` is the file as ``Predictor`` would give it, no ``"target"`` (test mode only).
    """

    @configurable
    def __init__(
        self,
        is_train: bool = True,
        *,
        scale: int = 4,
        gt_size: int = 128,
        use_hflip: bool = True,
        use_rot: bool = True,
        image_format: str = "RGB",
        augmentations: Optional[Sequence[T.Augmentation]] = None,
    ):
        if int(scale) < 1:
            raise ValueError(f"INPUT.SR.SCALE={scale!r} must be a positive integer")
        if is_train and (gt_size % scale or gt_size < scale):
            raise ValueError(
                f"INPUT.SR.GT_SIZE={gt_size} must be a positive multiple of INPUT.SR.SCALE={scale}"
            )
        if image_format not in ("RGB", "BGR"):
            raise ValueError(f"INPUT.FORMAT={image_format!r}: expected 'RGB' or 'BGR'")
        self.is_train = is_train
        self.scale, self.gt_size = int(scale), int(gt_size)
        self.use_hflip, self.use_rot = bool(use_hflip), bool(use_rot)
        self.image_format = image_format
        self.augmentations = T.AugmentationList(list(augmentations or []))

    @classmethod
    def from_config(cls, cfg, is_train: bool = True, augmentations=None):
        if "SR" not in cfg.INPUT:
            raise KeyError(
                "cfg has no INPUT.SR keys: add them with "
                "vision_plugins.data.super_resolution.add_sr_input_config"
            )
        sr = cfg.INPUT.SR
        return {"is_train": is_train, "scale": sr.SCALE, "gt_size": sr.GT_SIZE,
                "use_hflip": sr.USE_HFLIP, "use_rot": sr.USE_ROT,
                "image_format": cfg.INPUT.FORMAT, "augmentations": augmentations}  # fmt: skip

    def __repr__(self):
        mode = "train" if self.is_train else "test"
        return (f"SRMapper({mode}, scale={self.scale}, gt_size={self.gt_size}, "
                f"use_hflip={self.use_hflip}, use_rot={self.use_rot})")  # fmt: skip

    def __call__(self, dataset_dict: dict) -> dict:
        d = dict(dataset_dict)
        s = self.scale
        layout = d.get("dataset_layout", "single")
        if layout == "single":
            return self._map_single(d)
        hr, lr = load_sr_pair(d, s)
        h, w = hr.shape[0] // s, hr.shape[1] // s
        if self.is_train:
            p = self.gt_size // s
            if h < p or w < p:
                raise ValueError(
                    f"LR image of {d['file_name']!r} is {w}x{h}, smaller than the LR crop {p} "
                    f"(INPUT.SR.GT_SIZE={self.gt_size} / SCALE={s})"
                )
            top, left = random.randint(0, h - p), random.randint(0, w - p)
            rows, cols = slice(top, top + p), slice(left, left + p)
            if lr is None:
                lr = imresize(hr, output_shape=(h, w), rows=rows, cols=cols)
            else:
                lr = lr[rows, cols]
            hr = hr[top * s : (top + p) * s, left * s : (left + p) * s]
            hflip = self.use_hflip and random.random() < 0.5
            vflip = self.use_rot and random.random() < 0.5
            rot90 = self.use_rot and random.random() < 0.5
            lr, hr = (_augment(x, hflip, vflip, rot90) for x in (lr, hr))
        else:
            lr = self._test_transform(imresize(hr, output_shape=(h, w)) if lr is None else lr)
        d["image"] = _to_tensor(lr, self.image_format)
        d["target"] = _to_tensor(hr, self.image_format)
        d["height"], d["width"] = lr.shape[:2]
        d["sr_scale"] = s
        return d

    def _test_transform(self, lr):
        aug_input = T.AugInput(lr)
        self.augmentations(aug_input)
        if aug_input.image.shape[:2] != lr.shape[:2]:
            raise ValueError(
                f"the test transform changed the LR image size from {lr.shape[:2]} to "
                f"{aug_input.image.shape[:2]}: super-resolution targets need the identity"
            )
        return aug_input.image

    def _map_single(self, d):
        """A bare ``{"file_name", ...}`` dict: the file is the LR input (no target), as
        ``Predictor`` takes a picture."""
        if self.is_train:
            raise ValueError(
                f"{d.get('file_name')!r}: a dict without dataset_layout is one LR image with no "
                f"HR target and cannot train; register the HR images with register_sr_hr_folder "
                f"or register_sr_paired"
            )
        lr = self._test_transform(read_image(d["file_name"], "RGB"))
        d["image"] = _to_tensor(lr, self.image_format)
        d["height"], d["width"] = lr.shape[:2]
        d["sr_scale"] = self.scale
        return d


def load_sr_pair(dataset_dict: dict, scale: int):
    """``(hr, lr or None)`` of an ``sr_hr`` / ``sr_paired`` dict as H × W × 3 RGB uint8 arrays:
    the HR image mod-cropped to ``scale`` (for pairs: to ``scale`` × the LR size), and the LR
    file of a pair (None for ``sr_hr``: the LR is :func:`imresize` of the HR image)."""
    d, s = dataset_dict, int(scale)
    layout = d.get("dataset_layout")
    if layout not in ("sr_hr", "sr_paired"):
        raise ValueError(
            f"dataset dict of {d.get('file_name')!r} has dataset_layout={layout!r}: expected "
            f"'sr_hr', 'sr_paired' or none (one LR image)"
        )
    hr = read_image(d["file_name"], "RGB")
    if layout == "sr_hr":
        hr = mod_crop(hr, s)
        if hr.shape[0] < s or hr.shape[1] < s:
            raise ValueError(f"HR image {d['file_name']!r} is smaller than the scale {s}")
        return hr, None
    if int(d.get("sr_scale", s)) != s:
        raise ValueError(
            f"dataset pairs of scale {d['sr_scale']} but INPUT.SR.SCALE={s} ({d['file_name']!r})"
        )
    lr = read_image(d["lr_file_name"], "RGB")
    lh, lw = lr.shape[:2]
    if (hr.shape[0] // s, hr.shape[1] // s) != (lh, lw):
        raise ValueError(
            f"LR image {d['lr_file_name']!r} is {lw}x{lh} but HR image {d['file_name']!r} "
            f"is {hr.shape[1]}x{hr.shape[0]} (scale {s})"
        )
    return hr[: lh * s, : lw * s], lr


def sr_lr_image(dataset_dict: dict, scale: int, image_format: str = "RGB") -> np.ndarray:
    """The whole LR image (H × W × 3 uint8, ``image_format`` channel order) the model gets for a
    dataset dict in test mode: the LR file of a pair, :func:`imresize` of the mod-cropped HR
    image of an ``sr_hr`` dict, the file itself for a bare dict -- e.g. to hand it to
    ``Predictor`` and compare with the evaluation loader."""
    if dataset_dict.get("dataset_layout", "single") == "single":
        lr = read_image(dataset_dict["file_name"], "RGB")
    else:
        hr, lr = load_sr_pair(dataset_dict, scale)
        if lr is None:
            lr = imresize(hr, output_shape=(hr.shape[0] // scale, hr.shape[1] // scale))
    return np.ascontiguousarray(lr[:, :, ::-1]) if image_format == "BGR" else lr


def build_sr_test_augmentation(cfg) -> List[T.Augmentation]:
    """The test transform of super-resolution models: none (the whole LR image), shared by the
    evaluation loader and ``Predictor``."""
    return []
