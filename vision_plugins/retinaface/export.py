"""RetinaFace export (the spec's exporter; ``tools/export_model.py``).

One graph ``model``: ``images`` (1, 3, H, W) float 0-255 in INPUT.FORMAT order, any H / W (the
test transform keeps the image's own size) -> ``scores`` (1, P) face probabilities, ``boxes``
(1, P, 4) absolute XYXY, ``landmarks`` (1, P, 5, 2) over all P anchors of that size: normalisation,
the network, the anchors and the box / landmark decoding (``RetinaFace.decode``). What stays in
Python is ``RetinaFace.postprocess`` (score threshold, top-k, NMS with the reference's +1 areas,
``detector_postprocess``), the function the eager model calls.
"""

import torch
from detectron2.structures import ImageList
from torch import nn

from ..export import Exportable, ExportGraph

__all__ = ["RetinaFaceGraph", "RetinaFaceExportable", "export_retinaface"]


class RetinaFaceGraph(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, images):
        x = self.model.normalize(images)
        anchors, logits, deltas, landms = self.model.forward_raw(ImageList(x, [x.shape[-2:]]))
        return self.model.decode(anchors, logits, deltas, landms)


class RetinaFaceExportable(Exportable):
    def __init__(self, model, cfg):
        self.model = model.eval()
        g = torch.Generator().manual_seed(0)
        graph = ExportGraph(
            name="model",
            module=RetinaFaceGraph(self.model).eval(),
            example_inputs=(torch.rand(1, 3, 96, 128, generator=g) * 255,),
            input_names=["images"],
            output_names=["scores", "boxes", "landmarks"],
            dynamic_axes={"images": {2: "height", 3: "width"}},
            check_inputs=[(torch.rand(1, 3, 120, 72, generator=g) * 255,)],
            # scores; boxes and landmarks in pixels (exp of the size deltas: float32 rounding
            # grows with the box, up to 0.03 px on boxes of 3,000 px measured)
            rtol=(0, 1e-4, 1e-4),
            atol=(2e-4, 0.05, 0.05),
        )
        super().__init__([graph], {"input_format": cfg.INPUT.FORMAT, "input_size": "any"})

    def __call__(self, batched_inputs, run):
        results = []
        for x in batched_inputs:
            image = self.model.load_image(x)
            scores, boxes, points = run("model", image[None])
            size = [tuple(image.shape[-2:])]
            results += self.model.postprocess(scores, boxes, points, [x], size)
        return results


def export_retinaface(model, cfg):
    return RetinaFaceExportable(model, cfg)
