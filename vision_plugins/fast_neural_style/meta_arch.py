"""``FastNeuralStyle``: real-time style transfer with perceptual losses (Johnson, Alahi and
Fei-Fei, ECCV 2016), the training body of pytorch/examples ``neural_style.py train`` (@77f55b9)
as a one-player meta-architecture (``engine.TwoPlayerTrainer`` with one Adam).

One iteration on a batch ``x`` of content images (0..255, the official ``ToTensor().mul(255)``):
``y = transformer(x)``; both go through ``normalize_batch`` (``/255`` then ImageNet mean/std) into
the frozen VGG16 (``MODEL.PERCEPTUAL``: relu1_2, relu2_2, relu3_3, relu4_3);
``loss_content = CONTENT_WEIGHT · MSE(φ_relu2_2(y), φ_relu2_2(x))`` and ``loss_style =
STYLE_WEIGHT · Σ_l MSE(G(φ_l(y)), G_l(style))`` with Gram matrices ``F Fᵀ / (C·H·W)``; the style
Grams are computed once from the style image and, as the official code's batch-repeated copies
sliced to ``n_batch``, used for every image of the batch (also a last, smaller batch).
``loss_tv`` (``TV_WEIGHT`` > 0) is the Lua code's total-variation term, not in pytorch/examples.

The official ``normalize_batch`` divides ``x`` and ``y`` **in place** (``div_``): the values
reaching the VGG are the same as here, where the division is out of place so that the kept
batch (``visuals``, the image grid) stays in 0..255; nothing else reads the divided tensors.

Style image: ``INPUT.STYLE.STYLE_IMAGE``, else the ``style_image`` of the training dataset's
metadata (``vision_plugins.data.style``), read on the first training iteration (or given with
:meth:`FastNeuralStyle.set_style`). Inference: ``{"image": transformer(x).clamp(0, 255)}`` (the
official ``stylize`` output saved by ``save_image``, which clamps), at the input's size
(rounded to multiples of 4 by the network's two stride-2 levels).
"""

import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from ..data.style import load_style_image, style_image_path
from ..gan import PerceptualLoss, build_generator
from ..gan.model import TranslationModel
from . import networks  # noqa: F401  (registers TransformerNet)

__all__ = ["FastNeuralStyle"]


@META_ARCH_REGISTRY.register()
class FastNeuralStyle(TranslationModel):
    """Network ``transformer`` (checkpoint keys ``transformer.*`` = the official ``.pth`` keys
    with that prefix, ``tools/convert_weights.py --arch fast_neural_style``) and the frozen
    ``perceptual`` loss (never in the checkpoint). Loss terms ``loss_content``, ``loss_style``
    (and ``loss_tv``); their sum is the official ``total_loss``."""

    players = {"G": ("transformer",)}
    step_order = ("G",)
    visual_names = ("content", "stylized")

    @configurable
    def __init__(
        self,
        *,
        transformer,
        perceptual,
        style_image="",
        style_size=0,
        style_datasets=(),
        input_nc=3,
        output_nc=3,
    ):
        super().__init__(
            input_nc=input_nc,
            output_nc=output_nc,
            test_train_mode=False,
            gan_mode="vanilla",
            gan_weight=0.0,
            gp_lambda=0.0,
        )
        self.transformer = transformer
        self.perceptual = perceptual
        self.style_image = style_image
        self.style_size = style_size
        self.style_datasets = tuple(style_datasets)
        self._style_grams = None

    @classmethod
    def from_config(cls, cfg):
        g = cfg.MODEL.GAN
        return {
            "transformer": build_generator(cfg),
            "perceptual": PerceptualLoss(cfg, input_range=255.0),
            "style_image": cfg.INPUT.STYLE.STYLE_IMAGE,
            "style_size": cfg.INPUT.STYLE.STYLE_SIZE,
            "style_datasets": tuple(cfg.DATASETS.TRAIN),
            "input_nc": g.INPUT_NC,
            "output_nc": g.OUTPUT_NC,
        }

    def set_style(self, style):
        """Use ``style`` ((1, 3, H, W) float 0..255 RGB) as the style image."""
        style = torch.as_tensor(style, dtype=torch.float32, device=self.device)
        self._style_grams = self.perceptual.style_grams(style.div(255).mul(255))

    def style_grams(self):
        """Gram matrices of the style image per layer (computed once, see the module doc)."""
        if self._style_grams is None:
            path = style_image_path(self.style_image, self.style_datasets)
            self.set_style(load_style_image(path, self.style_size))
        if next(iter(self._style_grams.values())).device != self.device:  # after .to()
            self._style_grams = {k: g.to(self.device) for k, g in self._style_grams.items()}
        return self._style_grams

    def content_batch(self, batched_inputs):
        """(N, 3, H, W) content images as the official network input, ``ToTensor().mul(255)``
        of the uint8 values: ``x / 255 * 255`` in float32, bit for bit."""
        images = []
        for d in batched_inputs:
            if "image" not in d:
                raise KeyError(
                    f"FastNeuralStyle: input dict without 'image' (file "
                    f"{d.get('file_name', '?')}); keys: {sorted(d)}"
                )
            images.append(d["image"].to(self.device, torch.float32))
        x = torch.stack(images)
        if x.shape[1] != self.input_nc:
            raise ValueError(
                f"FastNeuralStyle: 'image' has {x.shape[1]} channels, the network takes "
                f"{self.input_nc} (MODEL.GAN.INPUT_NC)"
            )
        return x.div(255).mul(255)

    def generate(self, batched_inputs):
        x = self.content_batch(batched_inputs)
        return {"content": x, "stylized": self.transformer(x)}

    def player_losses(self, player):
        x, y = self._cache["content"], self._cache["stylized"]
        terms = self.perceptual(y, x, style_grams=self.style_grams())
        return {f"loss_{k}": v for k, v in terms.items()}

    def visuals(self):
        return {k: self._cache[k].detach() / 127.5 - 1 for k in self.visual_names}

    def translate(self, batched_inputs):
        y = self.transformer(self.content_batch(batched_inputs))
        return [{"image": out.clamp(0, 255).contiguous()} for out in y]
