"""Super-resolution metrics (``evaluator_type: super_resolution``): PSNR / SSIM on the Y channel
with a border of ``scale`` pixels cropped (the benchmark protocol of SRGAN / ESRGAN papers),
their RGB variants (BasicSR's tables), sharpness, FID / KID, and the same numbers for bicubic
upsampling of the LR input.

Inputs and outputs (the super-resolution contract): the dataset dicts (``SRMapper``) carry
``"image"`` (LR, float (3, h, w), 0..255), ``"target"`` (HR, float (3, s·h, s·w)) and
``"sr_scale"`` (s); the model returns ``"image"`` (float (3, s·h, s·w), 0..255). Channel order is
``INPUT.FORMAT``'s (SR configs: RGB; BGR tensors are flipped first).

- **Quantisation** (``TEST.SR.QUANTIZE``, default on): outputs are clamped to 0..255 and
  **rounded** to integers (half to even) before any metric, which is what BasicSR's
  ``tensor2img`` does (``(x.clamp(0, 1) * 255).round()`` to uint8) before its PSNR / SSIM: the
  numbers are those of the saved PNGs. Targets are the dataset's uint8 pixels.
- **Border** (``TEST.SR.CROP_BORDER``): that many pixels are removed on every side of output and
  target before every metric; ``-1`` (default) = the image's scale (``sr_scale`` of the input,
  else the dataset's metadata ``scale``, else ``INPUT.SR.SCALE``).
- **Y channel**: ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` on 0..255 values (ITU-R
  BT.601 luma in 16..235, BasicSR's ``rgb2ycbcr(y_only=True)`` / MATLAB's ``rgb2ycbcr``), float64,
  **not rounded** (BasicSR computes it in float from the uint8 image: its float32 ``/ 255``
  step differs by < 1e-5).
- **PSNR** = ``10 log10(255² / MSE)`` per image (``data_range`` 255 for Y as for RGB, as
  BasicSR), averaged over images (``inf`` for an exact output), in float64. **SSIM**: Gaussian
  window 11, sigma 1.5, K1 0.01, K2 0.03, ``data_range`` 255, mean over the valid region
  (Wang et al.; BasicSR's ``_ssim`` keeps ``[5:-5, 5:-5]`` of its ``cv2.filter2D`` maps), over
  the channels for RGB, then the images; from
  :func:`vision_plugins.evaluation.translation.paired_metrics`. Under 11 × 11 pixels: NaN.
- **Order** (BasicSR's ``calculate_psnr`` / ``calculate_ssim``): crop the border, then convert
  to Y.
- **sharpness** (:func:`~vision_plugins.evaluation.translation.gradient_magnitude`): mean
  gradient magnitude of the outputs over that of the targets (1 = as sharp as HR; an MSE-trained
  upscaler is below 1).
- **FID / KID** (``TEST.SR.FID_KID``): outputs vs targets with the feature network of
  ``TEST.TRANSLATION.FID_FEATURES``
  (:func:`~vision_plugins.evaluation.translation.build_fid_features`: empty = a seeded random
  network, keys ``FID_seeded`` ...), KID subset ``TEST.TRANSLATION.KID_SUBSET``.
- **bicubic baseline** (``TEST.SR.BICUBIC_BASELINE``): the LR input upsampled by
  :func:`vision_plugins.data.super_resolution.imresize` (MATLAB bicubic on uint8, s×) scored the
  same way: ``PSNR_Y_bicubic``, ``SSIM_Y_bicubic``, ``PSNR_bicubic``, ``SSIM_bicubic``,
  ``sharpness_bicubic`` -- one evaluation shows the model and the baseline on the same images.

Results: ``{"super_resolution": {"PSNR_Y", "SSIM_Y", "PSNR", "SSIM", "sharpness",
"FID<tag>", "KID<tag>_mean", "KID<tag>_std", "<metric>_bicubic" ..., "num_images"}}``.
"""

import copy
import logging
import math
from collections import OrderedDict

import numpy as np
import torch
from detectron2.config import CfgNode as CN
from detectron2.config import configurable
from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm
from tabulate import tabulate

from ..config import register_config
from ..data.super_resolution import imresize
from .build import gather_predictions, register_evaluator
from .translation import (
    _options,
    build_fid_features,
    fid_kid,
    gradient_magnitude,
    paired_metrics,
    sharpness,
    sorted_keys,
)

__all__ = [
    "SREvaluator",
    "add_sr_eval_config",
    "rgb_to_y",
    "crop_border",
    "quantize",
    "sr_metrics",
    "bicubic_upsample",
]

logger = logging.getLogger(__name__)

#: BT.601 luma weights (for R, G, B in 0..1; Y in 16..235), BasicSR's / MATLAB's rgb2ycbcr
Y_WEIGHTS = (65.481, 128.553, 24.966)
SSIM_WINDOW = 11  # Gaussian window side of SSIM


@register_config
def add_sr_eval_config(cfg):
    """``TEST.SR`` (idempotent; new keys only): the super-resolution evaluator's options."""
    if "SR" in cfg.TEST:
        return cfg
    cfg.TEST.SR = CN()
    cfg.TEST.SR.CROP_BORDER = -1  # pixels removed on each side; -1 = the scale
    cfg.TEST.SR.QUANTIZE = True  # round outputs to uint8 values first (BasicSR's tensor2img)
    cfg.TEST.SR.BICUBIC_BASELINE = True  # also score MATLAB-bicubic upsampling of the LR input
    cfg.TEST.SR.FID_KID = True  # FID / KID with TEST.TRANSLATION's feature network
    return cfg


def rgb_to_y(image):
    """(1, H, W) float64 Y (16..235) of a (3, H, W) RGB 0..255 image (module doc)."""
    x = torch.as_tensor(image).double()
    if x.dim() != 3 or x.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) RGB image, got shape {tuple(x.shape)}")
    r, g, b = x
    return (16.0 + (Y_WEIGHTS[0] * r + Y_WEIGHTS[1] * g + Y_WEIGHTS[2] * b) / 255.0)[None]


def crop_border(image, border: int):
    """``image[..., b:-b, b:-b]`` (unchanged for ``b = 0``); a border that leaves nothing
    raises."""
    b = int(border)
    if b < 0:
        raise ValueError(f"crop border {b} < 0")
    if b == 0:
        return image
    h, w = image.shape[-2:]
    if h <= 2 * b or w <= 2 * b:
        raise ValueError(f"a {w}x{h} image has nothing left after cropping {b} border pixels")
    return image[..., b:-b, b:-b]


def quantize(image):
    """Clamp to 0..255 and round (half to even), float64: BasicSR's ``tensor2img`` values."""
    return torch.as_tensor(image).detach().to("cpu", torch.float64).clamp(0, 255).round()


def sr_metrics(output, target, border: int):
    """``{"PSNR_Y", "SSIM_Y", "PSNR", "SSIM"}`` of one (3, H, W) RGB 0..255 output against its
    target, ``border`` pixels cropped (both used as given: quantise the output first). SSIM is
    NaN when less than 11 × 11 pixels are left (no valid window)."""
    output = crop_border(torch.as_tensor(output).double(), border).contiguous()
    target = crop_border(torch.as_tensor(target).double(), border).contiguous()
    if output.shape != target.shape:
        raise ValueError(f"output {tuple(output.shape)} and target {tuple(target.shape)} differ")
    if min(output.shape[-2:]) < SSIM_WINDOW:  # no valid SSIM window: PSNR only
        nan = float("nan")
        return {"PSNR_Y": _psnr(rgb_to_y(output), rgb_to_y(target)), "SSIM_Y": nan,
                "PSNR": _psnr(output, target), "SSIM": nan}  # fmt: skip
    y_out, y_target = rgb_to_y(output), rgb_to_y(target)
    return {"PSNR_Y": _psnr(y_out, y_target),
            "SSIM_Y": float(paired_metrics(y_out, y_target)["SSIM"][0]),
            "PSNR": _psnr(output, target),
            "SSIM": float(paired_metrics(output, target)["SSIM"][0])}  # fmt: skip


def _psnr(output, target):
    """``10 log10(255² / MSE)`` in float64 (torchmetrics' PSNR takes the log of its float32
    ``data_range``: about 1e-6 dB off)."""
    mse = float(((output - target) ** 2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def bicubic_upsample(lr, scale: int):
    """(3, s·h, s·w) float64: MATLAB-bicubic ``imresize`` of a (3, h, w) 0..255 LR image (rounded
    to uint8 first, as the dataset's pixels are), uint8 result."""
    lr = torch.as_tensor(lr).detach().to("cpu", torch.float64).clamp(0, 255).round()
    hwc = lr.permute(1, 2, 0).numpy().astype(np.uint8)
    h, w = hwc.shape[:2]
    up = imresize(hwc, output_shape=(h * scale, w * scale))
    return torch.as_tensor(up.transpose(2, 0, 1).astype(np.float64))


class SREvaluator(DatasetEvaluator):
    """PSNR / SSIM (Y and RGB), sharpness, FID / KID of ``output["image"]`` against
    ``input["target"]``, and the bicubic baseline (module doc).

    ``SREvaluator(cfg, dataset_name)`` takes the options from ``TEST.SR``, the feature network
    from ``TEST.TRANSLATION`` and the default scale from the dataset's metadata /
    ``INPUT.SR.SCALE``."""

    @configurable
    def __init__(
        self,
        dataset_name,
        *,
        crop_border=-1,
        default_scale=4,
        quantize=True,
        bicubic_baseline=True,
        features=None,
        feature_tag="",
        kid_subset=50,
        kid_subsets=100,
        seed=0,
        input_format="RGB",
        distributed=True,
        device="cpu",
    ):
        self._dataset_name = dataset_name
        self._crop_border = int(crop_border)
        self._default_scale = int(default_scale)
        self._quantize = bool(quantize)
        self._bicubic = bool(bicubic_baseline)
        self._features = features.to(device).eval() if features is not None else None
        self._tag = feature_tag
        self._kid_subset, self._kid_subsets = int(kid_subset), int(kid_subsets)
        self._seed = int(seed)
        if input_format not in ("RGB", "BGR"):
            raise ValueError(f"INPUT.FORMAT={input_format!r}: expected 'RGB' or 'BGR'")
        self._bgr = input_format == "BGR"
        self._distributed = distributed
        self._device = torch.device(device)
        self.reset()

    @classmethod
    def from_config(cls, cfg, dataset_name, distributed=True):
        opts = cfg.TEST.SR if "SR" in cfg.TEST else add_sr_eval_config(_empty_cfg()).TEST.SR
        scale = MetadataCatalog.get(dataset_name).get("scale")
        if scale is None:
            scale = cfg.INPUT.SR.SCALE if "SR" in cfg.INPUT else 4
        args = {"dataset_name": dataset_name, "crop_border": opts.CROP_BORDER,
                "default_scale": scale, "quantize": opts.QUANTIZE,
                "bicubic_baseline": opts.BICUBIC_BASELINE, "input_format": cfg.INPUT.FORMAT,
                "distributed": distributed, "device": cfg.MODEL.DEVICE}  # fmt: skip
        if opts.FID_KID:
            features, tag = build_fid_features(cfg)
            translation = _options(cfg)
            args.update(features=features, feature_tag=tag, kid_subset=translation.KID_SUBSET,
                        seed=translation.FID_SEED)  # fmt: skip
        return args

    def reset(self):
        self._records = {}
        self._count = 0

    def _rgb(self, image):
        image = torch.as_tensor(image).detach().to("cpu", torch.float64)
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"expected a (3, H, W) image, got shape {tuple(image.shape)}")
        return image.flip(0) if self._bgr else image

    def _feature(self, image):
        with torch.no_grad():
            f = self._features(image.to(self._device, torch.float32)[None])
        return f.reshape(-1).cpu().numpy()

    def _score(self, output, target, border):
        rec = sr_metrics(output, target, border)
        rec["grad"] = gradient_magnitude(crop_border(output, border))
        return rec

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            key = inp.get("image_id", inp.get("file_name"))
            if key is None:
                key = f"{comm.get_rank()}:{self._count}"
            self._count += 1
            if "target" not in inp:
                raise KeyError(
                    f"{self._dataset_name} image {key!r} has no 'target' (HR) image: the "
                    f"super-resolution evaluator needs the SRMapper's dicts"
                )
            scale = int(inp.get("sr_scale", self._default_scale))
            border = scale if self._crop_border < 0 else self._crop_border
            output = self._rgb(out["image"])
            if self._quantize:
                output = quantize(output)
            target = self._rgb(inp["target"])
            if output.shape != target.shape:
                raise ValueError(
                    f"{self._dataset_name} image {key!r}: output {tuple(output.shape)} and "
                    f"target {tuple(target.shape)} differ in shape (scale {scale})"
                )
            rec = self._score(output, target, border)
            rec["grad_real"] = gradient_magnitude(crop_border(target, border))
            if self._bicubic and "image" in inp:
                bicubic = bicubic_upsample(self._rgb(inp["image"]), scale)
                if bicubic.shape == target.shape:
                    rec["bicubic"] = self._score(bicubic, target, border)
            if self._features is not None:
                rec["fake"] = self._feature(output)
                rec["real"] = self._feature(target)
            self._records[key] = rec

    def evaluate(self):
        records = gather_predictions(self._records, self._distributed)
        if records is None:
            return {}
        if not records:
            logger.warning(f"{self._dataset_name}: no image was evaluated")
            return {}
        recs = [records[k] for k in sorted_keys(records)]
        res = OrderedDict()
        for k in ("PSNR_Y", "SSIM_Y", "PSNR", "SSIM"):
            res[k] = float(np.mean([r[k] for r in recs]))
        real_grad = [r["grad_real"] for r in recs]
        res["sharpness"] = sharpness([r["grad"] for r in recs], real_grad)
        if self._features is not None:
            real, fake = [r["real"] for r in recs], [r["fake"] for r in recs]
            what = f"dataset {self._dataset_name!r}"
            res.update(fid_kid(real, fake, self._tag, self._kid_subset, self._kid_subsets,
                               self._seed, what))  # fmt: skip
        base = [r["bicubic"] for r in recs if "bicubic" in r]
        if base and len(base) == len(recs):
            for k in ("PSNR_Y", "SSIM_Y", "PSNR", "SSIM"):
                res[f"{k}_bicubic"] = float(np.mean([b[k] for b in base]))
            res["sharpness_bicubic"] = sharpness([b["grad"] for b in base], real_grad)
        res["num_images"] = len(recs)
        self._log(res)
        return {"super_resolution": copy.deepcopy(res)}

    def _log(self, res):
        table = tabulate([list(res.values())], headers=list(res), tablefmt="pipe",
                         floatfmt=".4f", numalign="center")  # fmt: skip
        logger.info(f"Super-resolution evaluation of {self._dataset_name!r}:\n" + table)


def _empty_cfg():
    return CN({"TEST": CN(), "INPUT": CN()})


@register_evaluator("super_resolution")
def _super_resolution(cfg, dataset_name, output_folder):
    return SREvaluator(cfg, dataset_name)
