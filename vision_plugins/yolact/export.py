"""Export of YOLACT / YOLACT++ (``tools/export_model.py``; the spec's exporter).

Two graphs, and the decisions between them in Python:

- ``model``: ``images`` (1, 3, S, S) float 0-255 in INPUT.FORMAT channel order, S =
  MODEL.YOLACT.MAX_SIZE (the test transform's output; normalisation is inside) ->
  ``YOLACT.decode``: ``boxes`` (1, P, 4) relative x1y1x2y2, ``scores`` (1, P, C+1) softmax,
  ``coefs`` (1, P, k), ``proto`` (1, Hp, Wp, k): the network and box decoding, continuous
  outputs checked within tolerance;
- ``YOLACT.select`` (Python, the function the eager model calls): the confidence filter, Fast
  NMS and the detections kept. These decisions are not in a graph: a candidate whose score is
  within rounding of the threshold (or an IoU of the NMS threshold) may be decided otherwise by
  another runtime, and one candidate more or less changes the whole set of detections, so no
  tolerance could check them;
- ``masks``: the selected rows (``proto``, ``boxes`` (1, D, 4), ``coefs`` (1, D, k), ``scores``
  and ``classes`` (1, D)) -> ``YOLACT.assemble``: ``masks`` (1, D, Hp, Wp) cropped sigmoid
  prototype masks [, ``mask_scores`` (1, D), YOLACT++'s mask-IoU rescoring], D =
  NMS.MAX_DETECTIONS (NMS.TOP_K with NMS.CROSS_CLASS);
- ``yolact.postprocess.detections_to_instances`` (Python, the eager model's own): drop the empty
  slots, boxes to the output size, masks resized to the output size and thresholded.

``YOLACT.detections`` chains select and assemble for every backend (``assemble``: the backend's
``masks`` graph). Anchors are constants of the S x S input. YOLACT++'s deformable convolutions
export as ONNX ``DeformConv`` (opset 19, run by ONNX Runtime's CPU provider).
"""

import torch
from torch import nn

from ..export import Exportable, ExportGraph
from .box_ops import gather_rows
from .postprocess import detections_to_instances

__all__ = ["YolactGraph", "YolactMasks", "YolactExportable", "export_yolact", "example_images"]

OUTPUT_NAMES = ["boxes", "scores", "coefs", "proto"]
# boxes decode the size deltas by exp, so their rounding is relative to their size (random
# weights: boxes up to 386 input sizes, 0.0079 apart in ONNX Runtime; the other outputs < 2e-4)
OUTPUT_RTOL = (1e-4, 0, 0, 0)
# the mask coefficients (tanh, |c| <= 1) of random R-50 weights: the eager model's own rounding
# with and without BatchNorm folded differs by 3.8e-4 (Inductor 1.6-2.0e-4 from eager)
COEFS_ATOL = 5e-4
MASK_INPUTS = ["proto", "boxes", "coefs", "scores", "classes"]


class YolactGraph(nn.Module):
    """images (N, 3, S, S) 0-255 -> ``YOLACT.decode`` outputs."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, images):
        loc, conf, coefs, priors, proto, _ = self.model.forward_features(
            self.model.normalize(images)
        )
        return self.model.decode(loc, conf, coefs, priors, proto)


class YolactMasks(nn.Module):
    """The selected detections -> ``YOLACT.assemble`` outputs (inputs: ``MASK_INPUTS``)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, proto, boxes, coefs, scores, classes):
        return self.model.assemble(boxes, coefs, proto, scores, classes)


def output_atol(atol):
    """The ``model`` graph's atol per output (``OUTPUT_NAMES``): ``atol``, the coefficients'
    at least ``COEFS_ATOL``."""
    return [max(atol, COEFS_ATOL) if n == "coefs" else atol for n in OUTPUT_NAMES]


def mask_output_names(model):
    return ["masks"] + (["mask_scores"] if model.maskiou_net is not None else [])


def example_images(size, seed=0, count=1):
    """``count`` seeded (1, 3, size, size) images 0-255 with some structure (smooth blobs on
    noise), so that a random or fixture model finds detections."""
    g = torch.Generator().manual_seed(seed)
    images = []
    for _ in range(count):
        low = torch.rand(1, 3, 8, 8, generator=g) * 255
        smooth = nn.functional.interpolate(low, (size, size), mode="bilinear", align_corners=False)
        images.append((smooth + torch.rand(1, 3, size, size, generator=g) * 40).clamp(0, 255))
    return images


class YolactExportable(Exportable):
    """YOLACT's graphs and the Python around them (module docstring)."""

    def __init__(self, model, cfg, graph_module=None, atol=2e-4):
        self.model = model.eval()
        self.size = cfg.MODEL.YOLACT.MAX_SIZE
        (example,) = example_images(self.size)
        graph = ExportGraph(
            "model",
            (graph_module or YolactGraph(model)).eval(),
            (example,),
            ["images"],
            list(OUTPUT_NAMES),
            rtol=list(OUTPUT_RTOL),
            atol=output_atol(atol),
        )
        with torch.no_grad():  # the masks graph's example: the example image's detections
            boxes, scores, coefs, proto = graph(example)[:4]
            idx, classes, scores = model.select(boxes, scores)
        masks = ExportGraph(
            "masks",
            YolactMasks(model).eval(),
            (proto, *(gather_rows(t, idx) for t in (boxes, coefs)), scores, classes),
            list(MASK_INPUTS),
            mask_output_names(model),
            rtol=0,
            atol=atol,
        )
        meta = {
            "input_size": self.size,
            "input_format": cfg.INPUT.FORMAT,
            "num_classes": cfg.MODEL.YOLACT.NUM_CLASSES,
            "between_graphs": "vision_plugins.yolact.meta_arch.YOLACT.select",
            "postprocess": "vision_plugins.yolact.postprocess.detections_to_instances",
        }
        super().__init__([graph, masks], meta)

    def images(self, x):
        image = self.model.load_image(x)
        if tuple(image.shape[-2:]) != (self.size, self.size):
            raise ValueError(
                f"exported YOLACT takes {self.size}x{self.size} inputs (MODEL.YOLACT.MAX_SIZE, "
                f"the test transform's output), got {tuple(image.shape[-2:])}"
            )
        return image[None]

    def instances(self, x, decoded, run):
        """``Instances`` of one input ``x`` from its ``model`` graph outputs ``decoded``
        (boxes, scores, coefs, proto): ``YOLACT.detections`` with the backend's ``masks`` graph,
        then ``detections_to_instances``."""

        def assemble(boxes, coefs, proto, scores, classes):
            return run("masks", proto, boxes, coefs, scores, classes)

        detections = self.model.detections(*decoded, assemble=assemble)
        height, width = x.get("height", self.size), x.get("width", self.size)
        return detections_to_instances([d[0] for d in detections], height, width)

    def __call__(self, batched_inputs, run):
        return [
            {"instances": self.instances(x, run("model", self.images(x)), run)}
            for x in batched_inputs
        ]


def export_yolact(model, cfg):
    """The spec's exporter: :class:`YolactExportable`."""
    return YolactExportable(model, cfg)
