"""Style-transfer evaluation (``evaluator_type: style``): how close the outputs' style is to the
style image, and how much of the inputs' content they keep, measured with the configured VGG
(``MODEL.PERCEPTUAL``: network, weights, preprocessing, layers; 0..255 images).

Per image, with φ_l the VGG activations and G the Gram matrix ``F Fᵀ / (C·H·W)``:

- ``gram_distance`` = Σ_l w_l · MSE(G(φ_l(output)), G(φ_l(style))) over ``LAYERS`` with
  ``LAYER_WEIGHTS`` (the style loss without STYLE_WEIGHT); ``gram_<layer>`` per layer;
- ``gram_distance_input``: the same for the input image (what the identity map scores) and
  ``gram_ratio`` = mean gram_distance / mean gram_distance_input (< 1: closer to the style);
- ``content_distance`` = Σ_{l ∈ CONTENT_LAYERS} w_l · MSE(φ_l(output), φ_l(input)) (the content
  loss without CONTENT_WEIGHT) and ``content_relative`` = that over Σ w_l · mean φ_l(input)².

Outputs larger than the input (the network rounds sizes up to multiples of 4) are cropped to the
input's size at the top-left. Results: ``{"style": {...}}``, means over the images.
Style image: ``INPUT.STYLE.STYLE_IMAGE``, else the evaluated dataset's ``style_image``.
"""

import logging
from collections import OrderedDict

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.evaluation import DatasetEvaluator
from torch.nn import functional as F

from ..data.style import load_style_image, style_image_path
from ..gan.perceptual import VGGFeatures, gram_matrix
from .build import gather_predictions, register_evaluator

__all__ = ["StyleEvaluator"]

logger = logging.getLogger(__name__)


class StyleEvaluator(DatasetEvaluator):
    """See the module docstring. ``vgg``: a :class:`VGGFeatures` with ``input_range`` 255;
    ``layer_weights``: ``{layer: w}``; ``content_layers``; ``style``: (1, 3, H, W) 0..255."""

    @configurable
    def __init__(
        self,
        dataset_name,
        *,
        vgg,
        layer_weights,
        content_layers,
        style,
        distributed=True,
        device="cpu",
    ):
        self._dataset_name = dataset_name
        self._device = torch.device(device)
        self._vgg = vgg.to(self._device)
        self._weights = OrderedDict(layer_weights)
        self._content_layers = tuple(content_layers) or tuple(self._weights)
        self._distributed = distributed
        with torch.no_grad():
            feats = self._vgg(torch.as_tensor(style, dtype=torch.float32).to(self._device))
        self._style_grams = {k: gram_matrix(f)[0] for k, f in feats.items()}
        self.reset()

    @classmethod
    def from_config(cls, cfg, dataset_name, distributed=True):
        p = cfg.MODEL.PERCEPTUAL
        path = style_image_path(cfg.INPUT.STYLE.STYLE_IMAGE, [dataset_name])
        return {
            "dataset_name": dataset_name,
            "vgg": VGGFeatures(p.VGG, p.LAYERS, p.WEIGHTS, p.PREPROCESS, 255.0, p.SEED),
            "layer_weights": OrderedDict(zip(p.LAYERS, p.LAYER_WEIGHTS)),
            "content_layers": tuple(p.CONTENT_LAYERS),
            "style": load_style_image(path, cfg.INPUT.STYLE.STYLE_SIZE),
            "distributed": distributed,
            "device": cfg.MODEL.DEVICE,
        }

    def reset(self):
        self._records = {}
        self._count = 0

    def _grams(self, feats):
        return {
            k: float(F.mse_loss(gram_matrix(feats[k])[0], self._style_grams[k]))
            for k in self._weights
        }

    @torch.no_grad()
    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            key = inp.get("image_id", inp.get("file_name", self._count))
            self._count += 1
            x = torch.as_tensor(inp["image"]).to(self._device, torch.float32)[None]
            y = out["image"].detach().to(self._device, torch.float32)[None]
            h, w = x.shape[-2:]
            if y.shape[-2] < h or y.shape[-1] < w:
                raise ValueError(
                    f"{self._dataset_name} image {key!r}: output {tuple(y.shape[1:])} smaller "
                    f"than the input {tuple(x.shape[1:])}"
                )
            y = y[..., :h, :w]
            fy, fx = self._vgg(y), self._vgg(x)
            gy, gx = self._grams(fy), self._grams(fx)
            content = sum(
                self._weights[k] * float(F.mse_loss(fy[k], fx[k])) for k in self._content_layers
            )
            energy = sum(
                self._weights[k] * float(fx[k].pow(2).mean()) for k in self._content_layers
            )
            self._records[key] = {
                "gram": gy,
                "gram_input": gx,
                "content": content,
                "energy": energy,
            }

    def evaluate(self):
        records = gather_predictions(self._records, self._distributed)
        if records is None:
            return {}
        if not records:
            logger.warning(f"{self._dataset_name}: no image was evaluated")
            return {}
        recs = list(records.values())

        def weighted(r, name):
            return sum(self._weights[k] * r[name][k] for k in self._weights)

        res = OrderedDict()
        res["gram_distance"] = float(np.mean([weighted(r, "gram") for r in recs]))
        res["gram_distance_input"] = float(np.mean([weighted(r, "gram_input") for r in recs]))
        res["gram_ratio"] = res["gram_distance"] / max(res["gram_distance_input"], 1e-30)
        res["content_distance"] = float(np.mean([r["content"] for r in recs]))
        res["content_relative"] = res["content_distance"] / max(
            float(np.mean([r["energy"] for r in recs])), 1e-30
        )
        for k in self._weights:
            res[f"gram_{k}"] = float(np.mean([r["gram"][k] for r in recs]))
        logger.info(
            f"Style evaluation of {self._dataset_name!r} ({len(recs)} images): "
            + ", ".join(f"{k} {v:.4g}" for k, v in res.items())
        )
        return {"style": res}


@register_evaluator("style")
def _style(cfg, dataset_name, output_folder):
    return StyleEvaluator(cfg, dataset_name)
