"""Image-to-image translation metrics (``evaluator_type: translation``): L1, PSNR, SSIM against
paired targets, and FID / KID between the outputs and real images of the output domain.

Inputs and outputs (the Pix2Pix / CycleGAN contract): dataset dicts carry ``"target"`` (float
(C, H, W), RGB, 0..255) and, for two-way models, ``"target_B"``; the model returns ``"image"``
(float (C, H, W), RGB, 0..255), compared with ``"target"``, and ``"image_B2A"``, compared with
``"target_B"``. The results of the second direction carry the suffix ``_B2A``.

- **Quantisation** (``quantize=True``, ``TEST.TRANSLATION.QUANTIZE``): the outputs are truncated to
  integers (``floor``, after clamping to 0..255) before any metric, which is what the official
  test script writes to its PNGs (its ``tensor2im`` casts ``(y + 1) / 2 * 255`` to uint8); the
  numbers are those of the saved files. Targets are used as given (the dataset's pixels; the
  official script re-saves its real images through the same cast, which lowers 63 of the 256
  grey levels by one, and those re-saved files are not what is compared here).
- **L1**: mean absolute difference on the [0, 1] scale (pixels / 255), per image, averaged.
- **PSNR**: ``10 log10(255² / MSE)`` per image (torchmetrics, ``data_range=255``), averaged over
  the images (not the PSNR of the dataset's MSE). An image equal to its target has PSNR ``inf``;
  the average is then ``inf`` too and is reported as such (``float("inf")``).
- **SSIM**: torchmetrics' SSIM map (Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03,
  ``data_range=255``, float64), averaged over the pixels whose window lies inside the image
  (Wang et al.'s "valid" region, as skimage's ``structural_similarity`` and BasicSR), over the
  channels, then over the images (equal to skimage to 1e-10 in the tests). torchmetrics 1.9's
  own scalar also averages the border pixels of its reflect-padded map (4e-4 off skimage on a
  noisy 40 × 50 image).
- **sharpness**: the mean gradient magnitude of the outputs divided by that of the real images
  of the direction (its targets, or without targets the unpaired real images of the output
  domain, as FID). Gradient magnitude of one image: its grey image ``0.299 R + 0.587 G + 0.114
  B`` (a one-channel image as is), forward differences ``dx = g[y, x+1] - g[y, x]`` and ``dy =
  g[y+1, x] - g[y, x]`` on the pixels that have both, ``sqrt(dx² + dy²)`` averaged over them;
  this per-image value is averaged over the outputs and over the real images, and the ratio of
  the two averages is reported. 1 = as sharp as the real images, < 1 blurrier (an L1-trained
  generator's averaged edges), > 1 more high-frequency content (noise, artefacts).
- **diversity**: the mean L1 (pixels / 255) over all pairs of outputs of *different* inputs,
  divided by the same mean over the pairs of the real images (targets, or unpaired real images as
  above): 1 = the outputs vary as much as the real images, → 0 when every input gives the same
  output (mode collapse). Pairs of images of different shapes are skipped. Computed on the
  first ``TEST.TRANSLATION.DIVERSITY_IMAGES`` images in image-key order (each process keeps at
  most that many, rounded to uint8; the pairwise cost is quadratic); NaN with fewer than two.
- **FID / KID** (``torchmetrics.image.fid.FrechetInceptionDistance`` and
  ``torchmetrics.image.kid.KernelInceptionDistance`` on features computed in ``process`` and
  gathered from every process): the real set of a direction is its targets, or, for a dataset
  without any target, its unpaired images of the output domain (``"image_B"`` for A→B,
  ``"image"`` for B→A; each distinct file once). KID: polynomial kernel
  ``(x·y / d + 1)³``, 100 subsets of ``min(TEST.TRANSLATION.KID_SUBSET, n_real, n_fake)``
  samples drawn with ``torch.manual_seed(TEST.TRANSLATION.FID_SEED)`` in a forked RNG; mean and
  (biased) standard deviation over the subsets. Fewer than two images on either side: NaN. (With
  Inception's 2048-d features, FID needs thousands of images for a full-rank covariance; on
  small sets it is biased upwards, and KID, unbiased, is the better guide.)
- **Feature network** (``TEST.TRANSLATION.FID_FEATURES``, see ``build_fid_features``): it takes
  float32 (N, 3, H, W) RGB images in 0..255 (a one-channel image is repeated to three) and returns
  (N, D) features. Inception weights cannot be downloaded here: either a local file, or (empty
  key) a small convolutional network with random weights drawn from ``TEST.TRANSLATION.FID_SEED``,
  whose numbers are only comparable within this project: their keys say so (``FID_seeded``,
  ``KID_seeded_mean``, ``KID_seeded_std``). pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``
  gives pytorch-fid's pool3 features exactly (an optional test checks it against pytorch-fid
  0.3.0 with random weights of that layout).
"""

import copy
import logging
import math
import os
import zipfile
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from detectron2.config import CfgNode as CN
from detectron2.config import configurable
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm
from tabulate import tabulate
from torch import nn

from ..config import register_config
from .build import gather_predictions, register_evaluator

__all__ = [
    "TranslationEvaluator",
    "add_translation_eval_config",
    "build_fid_features",
    "load_fid_features",
    "SeededFeatures",
    "InceptionPool3",
    "inception_from_state_dict",
    "paired_metrics",
    "frechet_distance",
    "kernel_inception_distance",
    "gradient_magnitude",
    "sharpness",
    "mean_pairwise_l1",
    "diversity",
]

logger = logging.getLogger(__name__)

FEATURES_KEY = "TEST.TRANSLATION.FID_FEATURES"
# (name, output key, target key, unpaired real image key, its file name key, results suffix)
DIRECTIONS = (
    ("A2B", "image", "target", "image_B", "file_name_B", ""),
    ("B2A", "image_B2A", "target_B", "image", "file_name", "_B2A"),
)
_WARNED = set()  # warnings given once per process (the evaluator is rebuilt at every evaluation)


@register_config
def add_translation_eval_config(cfg):
    """``TEST.TRANSLATION``: the feature network of FID / KID and the KID subset size
    (idempotent; new keys only)."""
    if "TRANSLATION" in cfg.TEST:
        return
    cfg.TEST.TRANSLATION = CN()
    # "" = a seeded random conv network (results "FID_seeded", ...); else a local file: a
    # TorchScript module, or an Inception-v3 state_dict (torchvision layout, or pytorch-fid's
    # pt_inception-2015-12-05-6726825d.pth) -> 2048-d pool3 features
    cfg.TEST.TRANSLATION.FID_FEATURES = ""
    cfg.TEST.TRANSLATION.FID_SEED = 0  # seeded network's weights and KID's subset sampling
    cfg.TEST.TRANSLATION.KID_SUBSET = 50  # KID subset size (capped at the number of images)
    cfg.TEST.TRANSLATION.QUANTIZE = True  # truncate outputs to uint8 values, as the saved PNGs
    cfg.TEST.TRANSLATION.DIVERSITY_IMAGES = 100  # images (first in key order) of "diversity"


def _warn_once(message):
    if message not in _WARNED:
        _WARNED.add(message)
        logger.warning(message)


# ----------------------------------------------------------------------------------------------
# feature networks


class SeededFeatures(nn.Module):
    """Three stride-2 3×3 convolutions with ReLU (3 → 16 → 32 → 64) and a global average:
    64-d features of a float (N, 3, H, W) 0..255 image (scaled to [-1, 1]). Weights are drawn
    (He normal, zero biases) from a ``torch.Generator`` seeded with ``seed``, so they do not depend
    on or disturb the global RNG."""

    num_features = 64

    def __init__(self, seed=0):
        super().__init__()
        gen = torch.Generator().manual_seed(int(seed))
        widths = (3, 16, 32, 64)
        layers = []
        for cin, cout in zip(widths[:-1], widths[1:]):
            with torch.random.fork_rng(devices=[]):  # nn.Conv2d's own init draws from it
                conv = nn.Conv2d(cin, cout, 3, stride=2, padding=1)
            with torch.no_grad():
                std = math.sqrt(2.0 / (cin * 9))
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * std)
                conv.bias.zero_()
            layers += [conv, nn.ReLU()]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x / 127.5 - 1.0).mean(dim=(2, 3))


def _fid_block(base, pool):
    """A torchvision Inception block whose pooling branch pools as the FID Inception (the
    TensorFlow graph of the FID paper, as ported by pytorch-fid): 3×3 average pooling that does
    not count the padding, or 3×3 max pooling (the last block). Only the pooling branch (the
    block's last output) differs, so it is recomputed."""

    class Block(base):
        def _forward(self, x):
            outputs = super()._forward(x)
            if pool == "max":
                pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
            else:
                pooled = F.avg_pool2d(
                    x, kernel_size=3, stride=1, padding=1, count_include_pad=False
                )
            outputs[-1] = self.branch_pool(pooled)
            return outputs

    Block.__name__ = f"FID{base.__name__}"
    return Block


class InceptionPool3(nn.Module):
    """2048-d pool3 features of torchvision's ``Inception3`` (``fc`` replaced by ``Identity``,
    eval mode) for float (N, 3, H, W) 0..255 images: pixels / 255, bilinear resize to 299 × 299
    (``align_corners=False``, no antialiasing), then ``2x - 1``, as pytorch-fid (both the
    TF-ported FID weights and torchvision's ImageNet weights expect [-1, 1]; the latter through
    ``transform_input`` from ImageNet normalisation, here the identity)."""

    num_features = 2048

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        x = F.interpolate(x / 255.0, size=(299, 299), mode="bilinear", align_corners=False)
        return self.net(2 * x - 1)


def inception_from_state_dict(state_dict):
    """``InceptionPool3`` holding ``state_dict`` (torchvision layout; ``fc.*`` is dropped,
    ``AuxLogits.*`` kept when present). A 1008-class ``fc`` marks the TF-ported FID weights
    (pytorch-fid's ``pt_inception-2015-12-05``): their blocks pool as the FID Inception
    (``_fid_block``); other weights run torchvision's blocks."""
    from torchvision.models import inception as tvi

    state_dict = {k[len("module.") :] if k.startswith("module.") else k: v
                  for k, v in state_dict.items()}  # fmt: skip
    fc = state_dict.get("fc.weight")
    fid = fc is not None and fc.shape[0] == 1008
    aux = any(k.startswith("AuxLogits.") for k in state_dict)
    if fid:
        blocks = [tvi.BasicConv2d, _fid_block(tvi.InceptionA, "avg"), tvi.InceptionB,
                  _fid_block(tvi.InceptionC, "avg"), tvi.InceptionD,
                  _fid_block(tvi.InceptionE, "avg"), tvi.InceptionAux]  # fmt: skip
        net = tvi.Inception3(num_classes=1008, aux_logits=aux, transform_input=False,
                             init_weights=False, inception_blocks=blocks)  # fmt: skip
        net.Mixed_7c = _fid_block(tvi.InceptionE, "max")(2048)
    else:
        net = tvi.inception_v3(weights=None, aux_logits=aux, init_weights=False)
    net.fc = nn.Identity()
    net.load_state_dict({k: v for k, v in state_dict.items() if not k.startswith("fc.")})
    logger.info(
        "FID features: Inception-v3 pool3 with "
        + ("the FID Inception's pooling (1008-class fc)" if fid else "torchvision's blocks")
    )
    return InceptionPool3(net.eval())


class _ScriptFeatures(nn.Module):
    """A TorchScript feature network; ``return_features=True`` is passed when its ``forward``
    takes that argument (the StyleGAN / clean-fid ``inception-2015-12-05.pt`` does)."""

    def __init__(self, module):
        super().__init__()
        self.module = module
        names = [a.name for a in module.forward.schema.arguments]
        self.return_features = "return_features" in names

    def forward(self, x):
        if self.return_features:
            return self.module(x, return_features=True)
        return self.module(x)


def _is_torchscript(path):
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("/constants.pkl") or "/code/" in n for n in z.namelist())


def load_fid_features(path, key=FEATURES_KEY):
    """The feature network stored at ``path``: a TorchScript module (float (N, 3, H, W) 0..255 →
    (N, D)) or an Inception-v3 state_dict (``inception_from_state_dict``; also inside a
    ``"state_dict"`` / ``"model"`` entry). Errors name the config ``key`` and the path."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{key} = {path!r}: no such file")
    try:
        if _is_torchscript(path):
            net = _ScriptFeatures(torch.jit.load(path, map_location="cpu"))
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
            for inner in ("state_dict", "model"):
                if isinstance(sd, dict) and isinstance(sd.get(inner), dict):
                    sd = sd[inner]
            if not isinstance(sd, dict):
                raise TypeError(f"expected a state_dict, got {type(sd).__name__}")
            net = inception_from_state_dict(sd)
    except Exception as e:
        raise RuntimeError(
            f"{key} = {path!r} is neither a TorchScript feature network nor an Inception-v3 "
            f"state_dict: {type(e).__name__}: {e}"
        ) from e
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


def build_fid_features(cfg):
    """``(feature network, key tag)`` from ``cfg.TEST.TRANSLATION``: the file of
    ``FID_FEATURES`` (tag ``""``), or ``SeededFeatures(FID_SEED)`` (tag ``"_seeded"``, with one
    warning per process naming the key)."""
    opts = _options(cfg)
    if opts.FID_FEATURES:
        return load_fid_features(opts.FID_FEATURES), ""
    _warn_once(
        f"{FEATURES_KEY} is empty: FID and KID use a random convolutional network seeded with "
        f"TEST.TRANSLATION.FID_SEED={opts.FID_SEED} (keys FID_seeded, KID_seeded_*), comparable "
        f"only within this project; set {FEATURES_KEY} to a local Inception-v3 file for "
        f"standard FID/KID"
    )
    return SeededFeatures(opts.FID_SEED).eval(), "_seeded"


def _options(cfg):
    if "TRANSLATION" in cfg.TEST:
        return cfg.TEST.TRANSLATION
    tmp = CN({"TEST": CN()})
    add_translation_eval_config(tmp)
    return tmp.TEST.TRANSLATION


# ----------------------------------------------------------------------------------------------
# metrics


def paired_metrics(pred, target):
    """``{"L1", "PSNR", "SSIM"}`` per image (float64 arrays) of (N, C, H, W) (or (C, H, W))
    tensors in 0..255 (see the module docstring)."""
    from torchmetrics.functional import mean_absolute_error
    from torchmetrics.functional.image import (
        peak_signal_noise_ratio,
        structural_similarity_index_measure,
    )

    pred, target = torch.as_tensor(pred).double(), torch.as_tensor(target).double()
    if pred.dim() == 3:
        pred, target = pred[None], target[None]
    if pred.shape != target.shape:
        raise ValueError(f"output shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
    l1 = [float(mean_absolute_error(p / 255.0, t / 255.0)) for p, t in zip(pred, target)]
    psnr = peak_signal_noise_ratio(pred, target, data_range=255.0, reduction="none",
                                   dim=(1, 2, 3))  # fmt: skip
    _, ssim_map = structural_similarity_index_measure(
        pred, target, gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=255.0,
        k1=0.01, k2=0.03, reduction="none", return_full_image=True,
    )  # fmt: skip
    if ssim_map.shape[-2:] == pred.shape[-2:]:  # the full reflect-padded map: keep the valid part
        pad = (int(3.5 * 1.5 + 0.5) * 2 + 1) // 2
        ssim_map = ssim_map[..., pad:-pad, pad:-pad]
    ssim = ssim_map.flatten(1).mean(1)
    return {"L1": np.array(l1), "PSNR": psnr.reshape(-1).numpy(), "SSIM": ssim.numpy()}


def gradient_magnitude(image):
    """Mean gradient magnitude of a (C, H, W) 0..255 image (C = 3: RGB, or 1): forward
    differences of its grey image ``0.299 R + 0.587 G + 0.114 B`` on the ``(H - 1) × (W - 1)``
    pixels that have a right and a lower neighbour, ``sqrt(dx² + dy²)`` averaged over them
    (grey levels per pixel; 0 for a constant image)."""
    x = torch.as_tensor(image).double()
    if x.dim() != 3 or x.shape[0] not in (1, 3):
        raise ValueError(f"expected a (1 or 3, H, W) image, got shape {tuple(x.shape)}")
    if x.shape[-1] < 2 or x.shape[-2] < 2:
        raise ValueError(f"a gradient needs at least 2 x 2 pixels, got {tuple(x.shape)}")
    if x.shape[0] == 3:
        grey = 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]
    else:
        grey = x[0]
    dx = grey[:-1, 1:] - grey[:-1, :-1]
    dy = grey[1:, :-1] - grey[:-1, :-1]
    return float(torch.sqrt(dx**2 + dy**2).mean())


def sharpness(fake_gradients, real_gradients):
    """mean(fake per-image gradient magnitudes) / mean(real ones) (NaN without either; inf when
    the real images are all constant and the outputs are not)."""
    if len(fake_gradients) == 0 or len(real_gradients) == 0:
        return float("nan")
    fake, real = float(np.mean(fake_gradients)), float(np.mean(real_gradients))
    if real == 0:
        return float("nan") if fake == 0 else float("inf")
    return fake / real


def mean_pairwise_l1(images):
    """Mean over the pairs ``i < j`` of same-shaped images of ``mean |x_i - x_j| / 255`` (NaN
    without any such pair)."""
    total, pairs = 0.0, 0
    groups = OrderedDict()
    for im in images:
        im = torch.as_tensor(im)
        groups.setdefault(tuple(im.shape), []).append(im)
    for group in groups.values():
        if len(group) < 2:
            continue
        x = torch.stack(group).flatten(1).float()
        for i in range(len(x) - 1):
            d = (x[i + 1 :] - x[i]).abs().mean(dim=1, dtype=torch.float64)
            total += float(d.sum())
            pairs += len(d)
    return total / pairs / 255.0 if pairs else float("nan")


def diversity(fakes, reals):
    """``mean_pairwise_l1(fakes) / mean_pairwise_l1(reals)``: 1 = as varied as the real images,
    0 = every output the same (NaN when either side has no pair, or the real images are all
    equal)."""
    fake, real = mean_pairwise_l1(fakes), mean_pairwise_l1(reals)
    if math.isnan(fake) or math.isnan(real) or real == 0:
        return float("nan")
    return fake / real


def _uint8(image):
    image = torch.as_tensor(image).detach().to("cpu", torch.float64)
    return image.clamp(0, 255).round().to(torch.uint8)


def _prune_pixels(entries, limit):
    """Keep ``"pixels"`` / ``"pixels_real"`` only in the first ``limit`` entries (in key order)
    of ``{key: dict}`` that hold them: the union over processes then holds the global first."""
    keys = [k for k, v in entries.items() if "pixels" in v]
    if len(keys) > limit:
        for k in sorted_keys(keys)[limit:]:
            entries[k].pop("pixels", None)
            entries[k].pop("pixels_real", None)


def _float64(features):
    return torch.as_tensor(np.asarray(features, np.float64))


class _Given(nn.Module):
    """The torchmetrics "feature network" of features computed beforehand."""

    def __init__(self, num_features):
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, x):
        return x


def frechet_distance(real, fake):
    """FID of two (N, D) feature sets (torchmetrics' ``FrechetInceptionDistance``, float64)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, fake = _float64(real), _float64(fake)
    # sync_on_compute=False: the features are already gathered (torchmetrics would otherwise
    # all-gather its states in compute(), which only the main process calls)
    fid = FrechetInceptionDistance(feature=_Given(real.shape[1]), sync_on_compute=False)
    fid.update(real, real=True)
    fid.update(fake, real=False)
    return float(fid.compute())


def kernel_inception_distance(real, fake, subset_size, subsets=100, seed=0):
    """``(mean, std)`` of the unbiased squared MMD (polynomial kernel ``(x·y / d + 1)³``) over
    ``subsets`` random subsets (torchmetrics' ``KernelInceptionDistance``); the subsets are drawn
    with ``torch.manual_seed(seed)`` inside a forked RNG."""
    from torchmetrics.image.kid import KernelInceptionDistance

    real, fake = _float64(real), _float64(fake)
    kid = KernelInceptionDistance(feature=_Given(real.shape[1]), subsets=subsets,
                                  subset_size=int(subset_size), sync_on_compute=False)  # fmt: skip
    kid.update(real, real=True)
    kid.update(fake, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = kid.compute()
    return float(mean), float(std)


# ----------------------------------------------------------------------------------------------
# evaluator


def fid_kid(real, fake, tag, kid_subset, kid_subsets, seed, what):
    """``{FID<tag>, KID<tag>_mean, KID<tag>_std}`` of two lists of feature vectors (KID subsets of
    ``min(kid_subset, n_real, n_fake)``); NaN, with a warning naming ``what``, when either side
    has fewer than two images."""
    fid_key, kid_key = f"FID{tag}", f"KID{tag}"
    if len(real) < 2 or len(fake) < 2:
        logger.warning(
            f"{what}: FID/KID need at least 2 real and 2 generated images, got {len(real)} and "
            f"{len(fake)}: NaN"
        )
        return {
            fid_key: float("nan"),
            f"{kid_key}_mean": float("nan"),
            f"{kid_key}_std": float("nan"),
        }
    subset = min(kid_subset, len(real), len(fake))
    mean, std = kernel_inception_distance(real, fake, subset, kid_subsets, seed)
    return {fid_key: frechet_distance(real, fake), f"{kid_key}_mean": mean, f"{kid_key}_std": std}


class TranslationEvaluator(DatasetEvaluator):
    """L1 / PSNR / SSIM of ``output["image"]`` against ``input["target"]`` (and of
    ``output["image_B2A"]`` against ``input["target_B"]``), and FID / KID of the outputs against
    the real images of their domain, computed with ``features`` (an ``nn.Module``: float
    (N, 3, H, W) 0..255 → (N, D); None: no FID / KID). Results ``{"translation": {"L1", "PSNR",
    "SSIM", "FID<tag>", "KID<tag>_mean", "KID<tag>_std", then the same + "_B2A"}}``, with
    ``tag`` = ``feature_tag`` ("" or "_seeded"). See the module docstring for the definitions.

    ``TranslationEvaluator(cfg, dataset_name)`` takes the feature network, KID subset size, seed,
    quantisation and device from ``cfg`` (``TEST.TRANSLATION``, ``MODEL.DEVICE``)."""

    @configurable
    def __init__(
        self,
        dataset_name,
        features=None,
        *,
        feature_tag="",
        kid_subset=50,
        kid_subsets=100,
        seed=0,
        quantize=True,
        diversity_images=100,
        distributed=True,
        device="cpu",
    ):
        self._dataset_name = dataset_name
        self._features = features.to(device).eval() if features is not None else None
        self._tag = feature_tag
        self._kid_subset = int(kid_subset)
        self._kid_subsets = int(kid_subsets)
        self._seed = int(seed)
        self._quantize = quantize
        self._diversity_images = int(diversity_images)
        self._distributed = distributed
        self._device = torch.device(device)
        self.reset()

    @classmethod
    def from_config(cls, cfg, dataset_name, distributed=True):
        opts = _options(cfg)
        features, tag = build_fid_features(cfg)
        return {"dataset_name": dataset_name, "features": features, "feature_tag": tag,
                "kid_subset": opts.KID_SUBSET, "seed": opts.FID_SEED, "quantize": opts.QUANTIZE,
                "diversity_images": opts.get("DIVERSITY_IMAGES", 100),
                "distributed": distributed, "device": cfg.MODEL.DEVICE}  # fmt: skip

    def reset(self):
        self._records = {}  # image key -> {direction: {metric: value, "fake"/"real": features}}
        # (direction, file) -> {"features", "grad", "pixels"} of an unpaired real image
        self._unpaired = {}
        self._count = 0

    def _feature(self, image):
        with torch.no_grad():
            x = image.to(self._device, torch.float32)[None]
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            if x.shape[1] != 3:
                raise ValueError(f"FID/KID features need 1 or 3 channels, got {x.shape[1]}")
            f = self._features(x)
        return f.reshape(1, -1)[0].cpu().numpy()

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            key = inp.get("image_id", inp.get("file_name"))
            if key is None:
                key = f"{comm.get_rank()}:{self._count}"
            self._count += 1
            record = {}
            for direction, out_key, target_key, other_key, other_file, _ in DIRECTIONS:
                if out_key not in out:
                    continue
                fake = out[out_key].detach().to("cpu", torch.float64)
                if self._quantize:
                    fake = fake.clamp(0, 255).floor()
                rec = {}
                target = inp.get(target_key)
                if target is not None:
                    target = torch.as_tensor(target).to("cpu", torch.float64)
                    if target.shape != fake.shape:
                        raise ValueError(
                            f"{self._dataset_name} image {key!r}: {out_key} {tuple(fake.shape)} "
                            f"and {target_key} {tuple(target.shape)} differ in shape"
                        )
                    rec.update({k: float(v[0]) for k, v in paired_metrics(fake, target).items()})
                    rec["grad_real"] = gradient_magnitude(target)
                    rec["pixels_real"] = _uint8(target)
                rec["grad"] = gradient_magnitude(fake)
                rec["pixels"] = _uint8(fake)
                if self._features is not None:
                    rec["fake"] = self._feature(fake)
                    if target is not None:
                        rec["real"] = self._feature(target)
                if target is None and other_key in inp:
                    name = (direction, str(inp.get(other_file, key)))
                    if name not in self._unpaired:
                        real = torch.as_tensor(inp[other_key])
                        entry = {"grad": gradient_magnitude(real), "pixels": _uint8(real)}
                        if self._features is not None:
                            entry["features"] = self._feature(real)
                        self._unpaired[name] = entry
                        _prune_pixels({k: v for k, v in self._unpaired.items()
                                       if k[0] == direction}, self._diversity_images)  # fmt: skip
                record[direction] = rec
            self._records[key] = record
            for direction, *_ in DIRECTIONS:
                _prune_pixels({k: r[direction] for k, r in self._records.items()
                               if direction in r}, self._diversity_images)  # fmt: skip

    def evaluate(self):
        records = gather_predictions(self._records, self._distributed)
        unpaired = gather_predictions(self._unpaired, self._distributed)
        if records is None:
            return {}
        if not records:
            logger.warning(f"{self._dataset_name}: no image was evaluated")
            return {}
        records = [records[k] for k in sorted_keys(records)]
        results, rows = OrderedDict(), []
        for direction, out_key, target_key, other_key, _, suffix in DIRECTIONS:
            recs = [r[direction] for r in records if direction in r]
            if not recs:
                continue
            res = self._direction(direction, recs, unpaired, out_key, target_key, other_key)
            rows.append((direction, res))
            results.update((k + suffix, v) for k, v in res.items())
        if results:
            self._log(rows)
        return {"translation": copy.deepcopy(results)}

    def _direction(self, direction, recs, unpaired, out_key, target_key, other_key):
        res = OrderedDict()
        paired = [r for r in recs if "L1" in r]
        if paired:
            for k in ("L1", "PSNR", "SSIM"):
                res[k] = float(np.mean([r[k] for r in paired]))
        if not paired:
            logger.warning(
                f"dataset {self._dataset_name!r} has no {target_key!r} images: no L1/PSNR/SSIM "
                f"for {out_key!r} ({direction}); FID/KID, if computed, use its {other_key!r} "
                f"images as the real set"
            )
        elif len(paired) < len(recs):
            logger.warning(
                f"dataset {self._dataset_name!r}: {len(recs) - len(paired)} of {len(recs)} "
                f"images have no {target_key!r}; L1/PSNR/SSIM ({direction}) skip them"
            )
        # the real images of the direction: the targets, or else the unpaired images
        others = [unpaired[k] for k in sorted_keys(unpaired) if k[0] == direction]
        if paired:
            real_grad = [r["grad_real"] for r in paired]
            real_pixels = [r["pixels_real"] for r in paired if "pixels_real" in r]
        else:
            real_grad = [u["grad"] for u in others]
            real_pixels = [u["pixels"] for u in others if "pixels" in u]
        res["sharpness"] = sharpness([r["grad"] for r in recs], real_grad)
        limit = self._diversity_images
        res["diversity"] = diversity([r["pixels"] for r in recs if "pixels" in r][:limit],
                                     real_pixels[:limit])  # fmt: skip
        if self._features is None:
            return res
        fake = [r["fake"] for r in recs]
        real = [r["real"] for r in recs if "real" in r]
        if not real:
            real = [u["features"] for u in others if "features" in u]
        what = f"dataset {self._dataset_name!r} ({direction})"
        res.update(
            fid_kid(real, fake, self._tag, self._kid_subset, self._kid_subsets, self._seed, what)
        )
        return res

    def _log(self, rows):
        headers = list(OrderedDict.fromkeys(k for _, res in rows for k in res))
        table = tabulate(
            [[d] + [res.get(k, "") for k in headers] for d, res in rows],
            headers=["direction"] + headers,
            tablefmt="pipe",
            floatfmt=".4g",
            numalign="center",
            stralign="center",
        )
        logger.info(f"Translation evaluation of {self._dataset_name!r}:\n" + table)


def sorted_keys(keys):
    """Image keys in a fixed order (KID's subsets depend on it): numeric ids numerically."""
    try:
        return sorted(keys)
    except TypeError:
        return sorted(keys, key=str)


@register_evaluator("translation")
def _translation(cfg, dataset_name, output_folder):
    return TranslationEvaluator(cfg, dataset_name)
