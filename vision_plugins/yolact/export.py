"""Export of YOLACT / YOLACT++ (``tools/export_model.py``; the spec's exporter).

One graph, ``model``: ``images`` (1, 3, S, S) float 0-255 in INPUT.FORMAT channel order, S =
MODEL.YOLACT.MAX_SIZE (the test transform's output; normalisation is inside) -> ``YOLACT.detect``'s
fixed-shape outputs: ``boxes`` (1, D, 4) relative x1y1x2y2, ``scores`` (1, D) (-1: no
detection), ``classes`` (1, D) int64, ``masks`` (1, D, Hp, Wp) cropped sigmoid prototype masks
[, ``mask_scores`` (1, D), YOLACT++], D = NMS.MAX_DETECTIONS (NMS.TOP_K with NMS.CROSS_CLASS).
The graph holds the network, box decoding, softmax, the confidence filter, Fast NMS, mask
assembly and crop and YOLACT++'s mask-IoU rescoring. What stays in Python is
``yolact.postprocess.detections_to_instances`` (drop the empty slots, boxes to the output size,
masks resized to the output size and thresholded), the function the eager model calls too.
Anchors are constants of the S x S input. YOLACT++'s deformable convolutions export as ONNX
``DeformConv`` (opset 19, run by ONNX Runtime's CPU provider).
"""

import torch
from torch import nn

from ..export import Exportable, ExportGraph
from .postprocess import detections_to_instances

__all__ = ["YolactGraph", "YolactExportable", "export_yolact", "example_images"]


class YolactGraph(nn.Module):
    """images (N, 3, S, S) 0-255 -> ``YOLACT.detect`` outputs."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, images):
        loc, conf, coefs, priors, proto, _ = self.model.forward_features(
            self.model.normalize(images)
        )
        return self.model.detect(loc, conf, coefs, priors, proto)


def output_names(model):
    names = ["boxes", "scores", "classes", "masks"]
    return names + (["mask_scores"] if model.maskiou_net is not None else [])


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
    """YOLACT's graph and the Python around it (module docstring)."""

    def __init__(self, model, cfg, graph_module=None, atol=2e-4):
        self.model = model.eval()
        self.size = cfg.MODEL.YOLACT.MAX_SIZE
        (example,) = example_images(self.size)
        graph = ExportGraph(
            "model",
            (graph_module or YolactGraph(model)).eval(),
            (example,),
            ["images"],
            output_names(model),
            rtol=0,
            atol=atol,
        )
        meta = {
            "input_size": self.size,
            "input_format": cfg.INPUT.FORMAT,
            "num_classes": cfg.MODEL.YOLACT.NUM_CLASSES,
            "postprocess": "vision_plugins.yolact.postprocess.detections_to_instances",
        }
        super().__init__([graph], meta)

    def images(self, x):
        image = self.model.load_image(x)
        if tuple(image.shape[-2:]) != (self.size, self.size):
            raise ValueError(
                f"exported YOLACT takes {self.size}x{self.size} inputs (MODEL.YOLACT.MAX_SIZE, "
                f"the test transform's output), got {tuple(image.shape[-2:])}"
            )
        return image[None]

    def __call__(self, batched_inputs, run):
        results = []
        for x in batched_inputs:
            detections = run("model", self.images(x))
            height, width = x.get("height", self.size), x.get("width", self.size)
            instances = detections_to_instances([d[0] for d in detections], height, width)
            results.append({"instances": instances})
        return results


def export_yolact(model, cfg):
    """The spec's exporter: :class:`YolactExportable`."""
    return YolactExportable(model, cfg)
