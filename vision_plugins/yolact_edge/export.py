"""Export of YolactEdge's two paths (``tools/export_model.py``; the spec's exporter).

Both graphs take the network input as the test transform makes it: a float 1 x 3 x S x S image
(S = MODEL.YOLACT.MAX_SIZE) in INPUT.FORMAT channel order, 0-255; normalisation is inside. Both
end with YOLACT's continuous decoding (``YOLACT.decode``; the ``model`` graph of ``yolact.export``):

- ``keyframe``: images -> (boxes, scores, coefs, proto, s4, s5, reduced): the decoded outputs
  plus the keyframe state the next frames need (the keyframe's phase-1 S4 / S5 and its C3 lateral
  through the flow pre-convs);
- ``nonkeyframe``: (images, s4, s5, reduced) -> (boxes, scores, coefs, proto);
- ``masks``: YOLACT's (``yolact.export``).

What stays in Python: which frame is a keyframe (``KeyframeSchedule``, the eager model's own),
carrying the state between frames, and YOLACT's decisions and post-processing
(``YolactExportable.instances``: ``YOLACT.select``, ``detections_to_instances``).
"""

import torch
from torch import nn

from ..export import ExportGraph
from ..yolact.export import OUTPUT_NAMES, OUTPUT_RTOL, YolactExportable
from .meta_arch import KeyframeSchedule, KeyframeState

__all__ = ["KeyframeNetwork", "NonKeyframeNetwork", "YolactEdgeExportable", "export_yolact_edge"]


class KeyframeNetwork(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, images):
        m = self.model
        feats, state = m.keyframe_features(m.normalize(images))
        decoded = m.decode(*m.predict(feats)[:5])
        return (*decoded, state.sums[1], state.sums[2], m.flow_pre_convs(state.lateral))


class NonKeyframeNetwork(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, images, s4, s5, reduced):
        m = self.model
        key = KeyframeState([s4, s4, s5], reduced, reduced)  # S3 and the lateral are unused
        feats = m.nonkeyframe_features(m.normalize(images), key)
        return m.decode(*m.predict(feats)[:5])


class YolactEdgeExportable(YolactExportable):
    """The graphs and the streaming loop around them (module docstring). Inputs without
    ``video_id`` are single images (keyframes), as for the eager model."""

    STATE = ["s4", "s5", "reduced"]

    def __init__(self, model, cfg):
        super().__init__(model, cfg, KeyframeNetwork(model))
        key = self.graphs[0]
        key.name, key.output_names = "keyframe", key.output_names + self.STATE
        atol = key.atol  # per output of OUTPUT_NAMES
        key.rtol = key.rtol + [0] * len(self.STATE)
        key.atol = atol + [min(atol)] * len(self.STATE)
        images = key.example_inputs[0]
        with torch.no_grad():
            state = tuple(key.module(images)[-3:])
        self.graphs.append(
            ExportGraph(
                "nonkeyframe",
                NonKeyframeNetwork(model).eval(),
                (torch.roll(images, 3, dims=3), *state),
                ["images"] + self.STATE,
                list(OUTPUT_NAMES),
                check_inputs=[(torch.flip(images, dims=[3]), *state)],
                rtol=list(OUTPUT_RTOL),
                atol=atol,
            )
        )
        self.meta.update(
            keyframe_interval=cfg.MODEL.YOLACT_EDGE.KEYFRAME_INTERVAL,
            keyframe_offset=cfg.MODEL.YOLACT_EDGE.KEYFRAME_OFFSET,
        )
        self.reset()

    def reset(self):
        """Forget the current video (the next frame is a keyframe)."""
        self.schedule = KeyframeSchedule(self.model.keyframe_interval, self.model.keyframe_offset)
        self.state = None

    def __call__(self, batched_inputs, run):
        results = []
        for x in batched_inputs:
            images = self.images(x)
            video = "video_id" in x
            keyframe = not video or self.schedule(x["video_id"], self.state is not None)
            if keyframe:
                *decoded, s4, s5, reduced = run("keyframe", images)
                if video:
                    self.state = (s4, s5, reduced)
            else:
                decoded = run("nonkeyframe", images, *self.state)
            results.append({"instances": self.instances(x, decoded, run), "is_keyframe": keyframe})
        return results


def export_yolact_edge(model, cfg):
    """The spec's exporter: :class:`YolactEdgeExportable`."""
    return YolactEdgeExportable(model, cfg)
