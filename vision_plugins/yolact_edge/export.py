"""TorchScript export of YolactEdge's two paths (``tools/export_model.py``; the spec's exporter).

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

from ..export import check_against_eager
from .meta_arch import KeyframeState

__all__ = ["KeyframeNetwork", "NonKeyframeNetwork", "export_yolact_edge"]


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
def export_yolact_edge(model, cfg, batch: int = 1):
    """``{"keyframe.ts": ..., "nonkeyframe.ts": ...}`` traced from an eval-mode YolactEdge for
    S = MODEL.YOLACT.MAX_SIZE, each checked against the eager model on fresh inputs, and the
    metadata a deployment needs."""
    model = model.eval()
    size = cfg.MODEL.YOLACT.MAX_SIZE
    g = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, size, size, generator=g) * 255
    keyframe, nonkeyframe = KeyframeNetwork(model).eval(), NonKeyframeNetwork(model).eval()
    key_outputs = keyframe(images)
    traced_key = torch.jit.trace(keyframe, (images,), check_trace=False)
    nonkey_inputs = (torch.roll(images, 3, dims=3), *key_outputs[5:])
    traced_nonkey = torch.jit.trace(nonkeyframe, nonkey_inputs, check_trace=False)
    fresh = torch.rand(batch, 3, size, size, generator=g) * 255
    check_against_eager(traced_key, keyframe, (fresh,), "keyframe")
    flipped = (torch.flip(fresh, dims=[3]), *keyframe(fresh)[5:])
    check_against_eager(traced_nonkey, nonkeyframe, flipped, "nonkeyframe")
    meta = {
        "input_size": size,
        "batch": batch,
        "input_format": cfg.INPUT.FORMAT,
        "keyframe_interval": cfg.MODEL.YOLACT_EDGE.KEYFRAME_INTERVAL,
        "num_classes": cfg.MODEL.YOLACT.NUM_CLASSES,
    }
    return {"keyframe.ts": traced_key, "nonkeyframe.ts": traced_nonkey}, meta
