"""``ImagePreprocessor``: the input normalisation shared by the one-stage meta-architectures.

The pixel mean / std buffers (``MODEL.PIXEL_MEAN`` / ``MODEL.PIXEL_STD``, in the units of the
input: the official "(pixel / 255 - mean) / std" recipes fold the 255 into them), the ``device``
property and ``preprocess_image``: each image moved to the model's device as float, a grey image
repeated on every channel, ``(image - mean) / std``, batched into an ``ImageList`` padded at the
bottom-right to ``size_divisibility`` (0: no padding beyond the largest image).
"""

from typing import Dict, List, Optional

import torch
from detectron2.structures import ImageList
from torch import nn

__all__ = ["ImagePreprocessor"]


class ImagePreprocessor(nn.Module):
    """Base (or mixin before ``nn.Module``) of a meta-architecture fed detectron2 dicts with a
    CHW ``image``. Call ``register_pixel_stats(pixel_mean, pixel_std)`` in ``__init__``."""

    def register_pixel_stats(self, pixel_mean, pixel_std):
        """Non-persistent (C, 1, 1) buffers ``pixel_mean`` and ``pixel_std``."""
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)

    @property
    def device(self):
        return self.pixel_mean.device

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """``(images - pixel_mean) / pixel_std`` on a (C, H, W) image or an (N, C, H, W) batch."""
        return (images - self.pixel_mean) / self.pixel_std

    def load_image(self, x: Dict) -> torch.Tensor:
        """``x["image"]`` on the model's device, float; a 1-channel image repeated on every
        channel of the pixel statistics."""
        image = x["image"].to(self.device).float()
        if image.shape[0] == 1:
            image = image.expand(self.pixel_mean.shape[0], -1, -1)
        return image

    def preprocess_image(
        self,
        batched_inputs: List[Dict],
        size_divisibility: int = 0,
        padding_constraints: Optional[Dict[str, int]] = None,
        normalize_padding: bool = False,
    ) -> ImageList:
        """Normalised images batched by ``ImageList.from_tensors(images, size_divisibility,
        padding_constraints=padding_constraints)``. The padding holds zeros, or, with
        ``normalize_padding``, zero pixels normalised with the images (the batch is padded
        first, then normalised)."""
        images = [self.load_image(x) for x in batched_inputs]
        if normalize_padding:
            raw = ImageList.from_tensors(
                images, size_divisibility, padding_constraints=padding_constraints
            )
            return ImageList(self.normalize(raw.tensor), raw.image_sizes)
        return ImageList.from_tensors(
            [self.normalize(image) for image in images],
            size_divisibility,
            padding_constraints=padding_constraints,
        )
