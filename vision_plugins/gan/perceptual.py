"""Perceptual losses on a frozen VGG (Johnson et al., ECCV 2016; SRGAN; ESRGAN).

- :class:`VGGFeatures`: torchvision's VGG ``features`` stack (same module indices, so a
  torchvision state_dict loads as it is), truncated after the deepest requested tap, returning the
  activations named ``conv<b>_<i>`` (before the ReLU) / ``relu<b>_<i>`` (after it). Input: RGB in
  ``[0, input_range]``; ``preprocess`` ``"imagenet"`` (``x / input_range``, then ImageNet
  mean/std: torchvision's weights, pytorch/examples' ``normalize_batch``, BasicSR's
  ``use_input_norm``), ``"caffe"`` (BGR, 0..255, minus the Caffe mean: the ``vgg16.t7`` of the Lua
  code) or ``"none"``.
- The network is frozen (``requires_grad`` False, always in eval mode) and is **not a registered
  submodule**: it never appears in ``state_dict()`` / ``parameters()`` of any model holding it
  (the torchvision file is 528-548 MB), while ``.to(device)`` / ``.float()`` still move it.
- Weights: a local torchvision file (``vgg19-dcbb9e9d.pth`` layout ``features.N.*`` +
  ``classifier.*``, or a features-only state_dict ``N.weight``; nothing is downloaded here). An
  empty path gives a seeded random network (He init ``kaiming_normal_`` fan-in, zero biases: the
  activations keep their scale through the layers, as a trained VGG's roughly do; torchvision's
  fan-out init shrinks conv1_1's outputs 4.6x and the Gram matrices ~10^3x, and then the official
  loss weights give gradients near Adam's epsilon: nothing trains) and a warning naming
  ``MODEL.PERCEPTUAL.WEIGHTS``: the loss then trains, but is not the published perceptual loss.
- :func:`gram_matrix` ``F Fᵀ / (C·H·W)`` (pytorch/examples and BasicSR), :func:`total_variation`.
- :class:`PerceptualLoss`: content (feature reconstruction), style (Gram) and TV terms with
  BasicSR's ``PerceptualLoss`` semantics (per-layer weights, ``l1`` | ``mse`` | ``fro`` criterion,
  ``perceptual_weight`` / ``style_weight``). BasicSR's ``criterion='l2'`` calls
  ``torch.nn.L2loss``, which does not exist (it raises); ``mse`` is what it meant.
- :func:`add_perceptual_config`: the ``MODEL.PERCEPTUAL`` keys (idempotent).
"""

import logging
import os
from collections import OrderedDict

import torch
from detectron2.config import CfgNode as CN
from detectron2.config import configurable
from torch import nn
from torch.nn import functional as F

__all__ = [
    "VGG_BLOCKS",
    "vgg_layer_names",
    "load_vgg",
    "VGGFeatures",
    "gram_matrix",
    "total_variation",
    "PerceptualLoss",
    "add_perceptual_config",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CAFFE_MEAN_BGR",
]

logger = logging.getLogger(__name__)

# convolutions per block (torchvision's cfgs "A", "B", "D", "E")
VGG_BLOCKS = {"vgg11": (1, 1, 2, 2, 2), "vgg13": (2, 2, 2, 2, 2), "vgg16": (2, 2, 3, 3, 3)}
VGG_BLOCKS["vgg19"] = (2, 2, 4, 4, 4)
_WIDTHS = (64, 128, 256, 512, 512)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
PREPROCESS = ("imagenet", "caffe", "none")
CRITERIA = ("l1", "mse", "fro")


def _check_arch(arch):
    if arch not in VGG_BLOCKS:
        raise ValueError(
            f"MODEL.PERCEPTUAL.VGG={arch!r}: not a VGG; one of {', '.join(sorted(VGG_BLOCKS))}"
        )


def vgg_layer_names(arch):
    """Names of torchvision's ``vgg<n>().features`` modules in index order: ``conv1_1``,
    ``relu1_1``, ..., ``pool1``, ... (vgg19: ``conv5_4`` = 34, ``relu5_4`` = 35)."""
    _check_arch(arch)
    names = []
    for b, n in enumerate(VGG_BLOCKS[arch], 1):
        for i in range(1, n + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return names


def _build_features(arch, depth):
    """torchvision's ``features`` layout (3x3 convs with padding 1, ReLU, 2x2 max pools) up to
    module index ``depth`` included; ReLUs are not in place (a ``conv`` tap keeps its value)."""
    layers, channels = [], 3
    for b, n in enumerate(VGG_BLOCKS[arch]):
        for _ in range(n):
            layers += [nn.Conv2d(channels, _WIDTHS[b], 3, padding=1), nn.ReLU()]
            channels = _WIDTHS[b]
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers[: depth + 1])


def _read_state_dict(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MODEL.PERCEPTUAL.WEIGHTS={path!r}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 -- any unreadable file gets the same message
        raise ValueError(f"MODEL.PERCEPTUAL.WEIGHTS={path!r}: cannot load: {e}") from e
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"MODEL.PERCEPTUAL.WEIGHTS={path!r}: not a state_dict")
    if any(k.startswith("features.") for k in state):  # full torchvision model file
        state = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
    return state


def load_vgg(arch="vgg19", weights="", depth=None, seed=0):
    """``features`` of torchvision's ``arch`` up to module ``depth`` (None: all), frozen, in eval
    mode, with the weights of file ``weights`` (torchvision layout, see the module docstring) or,
    for ``""``, seeded random ones (``seed``) and a warning naming ``MODEL.PERCEPTUAL.WEIGHTS``."""
    _check_arch(arch)
    names = vgg_layer_names(arch)
    net = _build_features(arch, len(names) - 1 if depth is None else depth)
    if weights:
        state = _read_state_dict(weights)
        own = net.state_dict()
        for key, value in own.items():
            if key not in state:
                raise KeyError(
                    f"MODEL.PERCEPTUAL.WEIGHTS={weights!r}: missing key {key!r} (or "
                    f"'features.{key}') of torchvision's {arch} ({names[int(key.split('.')[0])]}); "
                    f"the file has {len(state)} feature tensors: is it another VGG?"
                )
            if tuple(state[key].shape) != tuple(value.shape):
                raise ValueError(
                    f"MODEL.PERCEPTUAL.WEIGHTS={weights!r}: {key!r} has shape "
                    f"{tuple(state[key].shape)}, torchvision's {arch} has {tuple(value.shape)}"
                )
        net.load_state_dict({k: state[k] for k in own})
    elif not next(net.parameters()).is_meta:  # (meta: shapes only, e.g. converter checks)
        generator = torch.Generator().manual_seed(int(seed))
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(
                    m.weight, mode="fan_in", nonlinearity="relu", generator=generator
                )
                nn.init.zeros_(m.bias)
        logger.warning(
            f"perceptual loss: MODEL.PERCEPTUAL.WEIGHTS is empty, so the {arch} loss network is "
            f"seeded-random (seed {seed}): losses train but are not the published perceptual "
            f"loss. Set MODEL.PERCEPTUAL.WEIGHTS to torchvision's {arch} ImageNet file (e.g. "
            f"{arch}-*.pth; nothing is downloaded)"
        )
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


class VGGFeatures(nn.Module):
    """Named activations of a frozen torchvision VGG (see the module docstring).

    ``forward(x)`` -> ``OrderedDict{layer: (N, C, h, w)}`` in the order of ``layers``; ``x`` is
    (N, 3, H, W) RGB in ``[0, input_range]``. Gradients flow to ``x``, never to the VGG."""

    def __init__(
        self,
        arch="vgg19",
        layers=("relu5_4",),
        weights="",
        preprocess="imagenet",
        input_range=1.0,
        seed=0,
    ):
        super().__init__()
        names = vgg_layer_names(arch)
        layers = tuple(layers)
        bad = [name for name in layers if name not in names or name.startswith("pool")]
        if bad or not layers:
            taps = [n for n in names if not n.startswith("pool")]
            raise ValueError(
                f"MODEL.PERCEPTUAL.LAYERS: {bad or 'empty'} not layers of {arch}; names are "
                f"{taps[0]} ... {taps[-1]} (conv*: before the ReLU, relu*: after it)"
            )
        if preprocess not in PREPROCESS:
            raise ValueError(
                f"MODEL.PERCEPTUAL.PREPROCESS={preprocess!r}: one of {', '.join(PREPROCESS)}"
            )
        self.arch, self.layers, self.preprocess = arch, layers, preprocess
        self.input_range = float(input_range)
        self._index = {name: names.index(name) for name in layers}
        depth = max(self._index.values())
        # a plain attribute: not a submodule, so never in state_dict() / parameters()
        object.__setattr__(self, "net", load_vgg(arch, weights, depth, seed))
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        caffe = torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)
        self.register_buffer("caffe_mean", caffe, persistent=False)

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        self.net._apply(fn, *args, **kwargs)
        return self

    def train(self, mode=True):
        super().train(mode)
        self.net.eval()  # always: the loss network is fixed
        return self

    def normalize(self, x):
        """``x`` (RGB in ``[0, input_range]``) as the VGG's input (see the module docstring)."""
        if self.preprocess == "imagenet":
            return (x / self.input_range - self.mean) / self.std
        if self.preprocess == "caffe":
            bgr = x.flip(1)
            if self.input_range != 255.0:
                bgr = bgr * (255.0 / self.input_range)
            return bgr - self.caffe_mean
        return x

    def forward(self, x):
        h = self.normalize(x)
        by_index = {}
        wanted = set(self._index.values())
        for i, module in enumerate(self.net):
            h = module(h)
            if i in wanted:
                by_index[i] = h
        return OrderedDict((name, by_index[self._index[name]]) for name in self.layers)


def gram_matrix(features):
    """(N, C, H, W) -> (N, C, C) Gram matrices ``F Fᵀ / (C·H·W)``."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f.bmm(f.transpose(1, 2)) / (c * h * w)


def total_variation(x):
    """Anisotropic total variation of (N, C, H, W) images: mean |horizontal neighbour
    difference| + mean |vertical neighbour difference| (a scalar)."""
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean()
    return dx + dy


def _criterion(name):
    if name == "l1":
        return F.l1_loss
    if name == "mse":
        return F.mse_loss
    if name == "fro":  # BasicSR's 'fro': Frobenius norm of the difference
        return lambda a, b: torch.norm(a - b, p="fro")
    if name == "l2":
        raise ValueError(
            "MODEL.PERCEPTUAL.CRITERION='l2': BasicSR's 'l2' calls torch.nn.L2loss, which does not "
            "exist (it raises there too); use 'mse' (mean squared error)"
        )
    raise ValueError(f"MODEL.PERCEPTUAL.CRITERION={name!r}: one of {', '.join(CRITERIA)}")


class PerceptualLoss(nn.Module):
    """Content / style / total-variation losses on :class:`VGGFeatures`.

    ``forward(output, target=None, style_grams=None)`` -> ``{"content": ..., "style": ...,
    "tv": ...}`` (a term is present when its weight is non-zero):

    - content = ``content_weight · Σ_{l ∈ content_layers} w_l · crit(s·φ_l(output), s·φ_l(target))``
      (``s`` = ``feature_scale``, e.g. 1/12.75 for the SRGAN paper's VGG54; the target's features
      are computed without gradient);
    - style = ``style_weight · Σ_{l ∈ layers} w_l · crit(G(φ_l(output)), G_l)`` with ``G_l`` the
      given ``style_grams`` (fixed style image, :meth:`style_grams`; sliced to the batch as the
      official code does) or the Gram matrices of the target's features (BasicSR);
    - tv = ``tv_weight · total_variation(output)``.

    Each sum starts at 0 and is multiplied by its weight at the end (the official order).
    ``layer_weights``: ``{layer: w_l}`` (BasicSR ``layer_weights``); ``content_layers``: the
    layers of the content term (empty: all, BasicSR)."""

    @configurable
    def __init__(
        self,
        *,
        vgg,
        layer_weights,
        content_layers=(),
        content_weight=1.0,
        style_weight=0.0,
        tv_weight=0.0,
        criterion="l1",
        feature_scale=1.0,
    ):
        super().__init__()
        self.vgg = vgg
        self.layer_weights = OrderedDict(layer_weights)
        unknown = [name for name in content_layers if name not in self.layer_weights]
        if unknown:
            raise ValueError(
                f"MODEL.PERCEPTUAL.CONTENT_LAYERS: {unknown} not in MODEL.PERCEPTUAL.LAYERS "
                f"{list(self.layer_weights)}"
            )
        self.content_layers = tuple(content_layers) or tuple(self.layer_weights)
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        self.criterion_name = criterion
        self.criterion = _criterion(criterion)
        self.feature_scale = feature_scale

    @classmethod
    def from_config(cls, cfg, input_range=1.0):
        p = cfg.MODEL.PERCEPTUAL
        if len(p.LAYERS) != len(p.LAYER_WEIGHTS):
            raise ValueError(
                f"MODEL.PERCEPTUAL.LAYERS ({len(p.LAYERS)} names) and LAYER_WEIGHTS "
                f"({len(p.LAYER_WEIGHTS)} values) must have the same length"
            )
        vgg = VGGFeatures(
            p.VGG, p.LAYERS, p.WEIGHTS, p.PREPROCESS, input_range=input_range, seed=p.SEED
        )
        return {
            "vgg": vgg,
            "layer_weights": OrderedDict(zip(p.LAYERS, p.LAYER_WEIGHTS)),
            "content_layers": tuple(p.CONTENT_LAYERS),
            "content_weight": p.CONTENT_WEIGHT,
            "style_weight": p.STYLE_WEIGHT,
            "tv_weight": p.TV_WEIGHT,
            "criterion": p.CRITERION,
            "feature_scale": p.FEATURE_SCALE,
        }

    @torch.no_grad()
    def style_grams(self, style):
        """Gram matrices of the style image(s) (N, 3, H, W), per layer, no gradient."""
        return OrderedDict((k, gram_matrix(f)) for k, f in self.vgg(style).items())

    def forward(self, output, target=None, style_grams=None):
        losses = {}
        need_target = self.content_weight != 0 or (self.style_weight != 0 and style_grams is None)
        feats = self.vgg(output) if (self.content_weight or self.style_weight) else None
        target_feats = None
        if need_target:
            if target is None:
                raise ValueError("PerceptualLoss: the content / style terms need a target")
            with torch.no_grad():
                target_feats = self.vgg(target.detach())
        if self.content_weight != 0:
            s = self.feature_scale
            loss = 0
            for name in self.content_layers:
                a, b = feats[name], target_feats[name]
                if s != 1.0:
                    a, b = a * s, b * s
                loss = loss + self.criterion(a, b) * self.layer_weights[name]
            losses["content"] = loss * self.content_weight
        if self.style_weight != 0:
            n = output.shape[0]
            loss = 0
            for name, w in self.layer_weights.items():
                if style_grams is not None:
                    target_gram = style_grams[name]
                    if target_gram.shape[0] == 1 and n > 1:
                        target_gram = target_gram.expand(n, -1, -1)
                    target_gram = target_gram[:n]
                else:
                    target_gram = gram_matrix(target_feats[name])
                loss = loss + self.criterion(gram_matrix(feats[name]), target_gram) * w
            losses["style"] = loss * self.style_weight
        if self.tv_weight != 0:
            losses["tv"] = self.tv_weight * total_variation(output)
        return losses


def add_perceptual_config(cfg):
    """Add ``MODEL.PERCEPTUAL`` (idempotent; new keys only). Defaults: BasicSR's ESRGAN perceptual
    loss (VGG19 ``conv5_4`` before the ReLU, L1, weight 1, ImageNet input norm)."""
    if "PERCEPTUAL" in cfg.MODEL:
        return cfg
    p = cfg.MODEL.PERCEPTUAL = CN()
    # vgg11 | vgg13 | vgg16 | vgg19 (torchvision's features layout)
    p.VGG = "vgg19"
    # Local torchvision file (vgg19-dcbb9e9d.pth / vgg16-397923af.pth layout, or a features-only
    # state_dict); "" = seeded-random VGG (SEED) with a warning: not the published loss.
    p.WEIGHTS = ""
    p.SEED = 0
    # Input normalisation: imagenet (torchvision weights) | caffe (BGR minus the Caffe mean, for
    # Caffe-converted VGGs) | none.
    p.PREPROCESS = "imagenet"
    # Tapped layers (convK_I before the ReLU, reluK_I after it) and their weights (BasicSR's
    # layer_weights). The style term uses all of them.
    p.LAYERS = ("conv5_4",)
    p.LAYER_WEIGHTS = (1.0,)
    # Layers of the content (feature reconstruction) term; () = all of LAYERS (BasicSR).
    p.CONTENT_LAYERS = ()
    # Weights of the content (BasicSR perceptual_weight), style (Gram) and total-variation terms.
    p.CONTENT_WEIGHT = 1.0
    p.STYLE_WEIGHT = 0.0
    p.TV_WEIGHT = 0.0
    # l1 | mse | fro (BasicSR's 'l2' is broken upstream: use mse).
    p.CRITERION = "l1"
    # Features multiplied by this before the content criterion (SRGAN paper VGG54: 1/12.75).
    p.FEATURE_SCALE = 1.0
    return cfg
