"""TorchScript export of YolactEdge's two paths (``tools/export_model.py``).

Both graphs take the network input as the test transform makes it: a float N x 3 x S x S batch
(S = MODEL.YOLACT.MAX_SIZE) in INPUT.FORMAT channel order, 0-255; normalisation is inside.

- ``keyframe``: images -> (loc, conf, coefs, priors, proto, s4, s5, reduced): YOLACT's raw
  outputs plus the keyframe state the next frames need (the keyframe's phase-1 S4 / S5 and its
  C3 lateral through the flow pre-convs).
- ``nonkeyframe``: (images, s4, s5, reduced) -> (loc, conf, coefs, priors, proto).

The graphs end before post-processing: Fast NMS and mask assembly (data-dependent shapes) stay
in Python, ``YOLACT.inference_single`` on ``decode_boxes(loc, priors)`` and ``softmax(conf)``.
Priors are traced as constants of the S x S input.
"""

import torch
from torch import nn

from .meta_arch import KeyframeState

__all__ = ["KeyframeNetwork", "NonKeyframeNetwork", "export_torchscript"]


class _Normalised(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def normalise(self, images):
        return (images - self.model.pixel_mean) / self.model.pixel_std


class KeyframeNetwork(_Normalised):
    def forward(self, images):
        feats, state = self.model.keyframe_features(self.normalise(images))
        loc, conf, coefs, priors, proto, _ = self.model.predict(feats)
        reduced = self.model.flow_pre_convs(state.lateral)
        return loc, conf, coefs, priors, proto, state.sums[1], state.sums[2], reduced


class NonKeyframeNetwork(_Normalised):
    def forward(self, images, s4, s5, reduced):
        key = KeyframeState([s4, s4, s5], reduced, reduced)  # S3 and the lateral are unused
        feats = self.model.nonkeyframe_features(self.normalise(images), key)
        loc, conf, coefs, priors, proto, _ = self.model.predict(feats)
        return loc, conf, coefs, priors, proto


@torch.no_grad()
def export_torchscript(model, size: int, batch: int = 1):
    """Traced ``(keyframe, nonkeyframe)`` modules of an eval-mode YolactEdge for S = ``size``."""
    model = model.eval()
    g = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, size, size, generator=g) * 255
    keyframe = KeyframeNetwork(model).eval()
    key_outputs = keyframe(images)
    traced_key = torch.jit.trace(keyframe, (images,), check_trace=False)
    nonkey_inputs = (torch.roll(images, 3, dims=3), *key_outputs[5:])
    traced_nonkey = torch.jit.trace(
        NonKeyframeNetwork(model).eval(), nonkey_inputs, check_trace=False
    )
    return traced_key, traced_nonkey
