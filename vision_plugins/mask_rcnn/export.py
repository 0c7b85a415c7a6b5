"""Export of Mask R-CNN / Keypoint R-CNN (detectron2's ``GeneralizedRCNN``) through detectron2's
own path: ``detectron2.export.TracingAdapter`` around ``model.inference(...,
do_postprocess=False)``, as detectron2's ``tools/deploy/export_model.py --export-method tracing``.

One graph ``model``: ``image`` (3, H, W) float 0-255 in INPUT.FORMAT, as the test transform
(ResizeShortestEdge) makes it, any H / W -> the flattened ``Instances`` of the resized image
(boxes, scores, classes, 28x28 mask probabilities, keypoints / heatmaps): normalisation, backbone,
RPN (anchors, top-k, NMS), box head, per-class NMS, mask and keypoint heads. Python keeps
``GeneralizedRCNN._postprocess`` (``detector_postprocess``: boxes / keypoints scaled to the
requested size, masks pasted at full resolution), the very function the eager model calls.

TorchScript only: ONNX cannot take this graph in the installed torch — the ONNX (dynamo)
exporter's ``torch.export`` stops on detectron2's data-dependent detection counts
(``GuardOnDataDependentSymNode`` in the ROI heads), and the deprecated TorchScript-based ONNX
exporter on the keypoint decoding (``aten::index`` of unknown rank in ``heatmaps_to_keypoints``).
"""

import torch
from detectron2.export import TracingAdapter
from detectron2.modeling import GeneralizedRCNN
from torch import nn

from ..export import Exportable, ExportGraph

__all__ = ["ONNX_UNSUPPORTED", "MaskRCNNExportable", "export_mask_rcnn"]

ONNX_UNSUPPORTED = (
    "torch.onnx (dynamo) cannot export detectron2's data-dependent detection counts "
    "(torch.export GuardOnDataDependentSymNode in the ROI heads) and the TorchScript-based ONNX "
    "exporter fails on aten::index in keypoint decoding (heatmaps_to_keypoints)"
)


def _inference(model, inputs):
    return [{"instances": model.inference(inputs, do_postprocess=False)[0]}]


def _field_names(adapter):
    """Names of the adapter's flat outputs (one Instances: its fields, sorted, one tensor each,
    then its image size)."""
    instances = adapter.outputs_schema.schemas[0].schemas[0]
    assert list(instances.sizes) == [1] * len(instances.keys), instances
    return list(instances.keys)


class _RankedGraph(nn.Module):
    """The adapter's Instances fields with a batch axis, ``scores`` first: detections are rows
    along dim 1 ranked by score (``ExportGraph.ranked``: NMS near-ties may order rows
    differently). The image size (the input's) is left out."""

    def __init__(self, adapter, order):
        super().__init__()
        self.adapter, self.order = adapter, order

    def forward(self, image):
        outputs = self.adapter(image)
        return tuple(outputs[i][None] for i in self.order)


class MaskRCNNExportable(Exportable):
    def __init__(self, model, cfg):
        self.model = model.eval()
        g = torch.Generator().manual_seed(0)
        low = torch.rand(1, 3, 6, 8, generator=g) * 255
        image = torch.nn.functional.interpolate(low, (192, 256), mode="bilinear")[0]
        self.adapter = TracingAdapter(self.model, [{"image": image}], _inference)
        with torch.no_grad():
            self.adapter(image)
        names = _field_names(self.adapter)
        self.order = [names.index("scores")] + [i for i, n in enumerate(names) if n != "scores"]
        graph = ExportGraph(
            name="model",
            module=_RankedGraph(self.adapter, self.order).eval(),
            example_inputs=(image,),
            input_names=["image"],
            output_names=[names[i] for i in self.order],
            dynamic_axes={"image": {1: "height", 2: "width"}},
            onnx_unsupported=ONNX_UNSUPPORTED,
            rtol=0,
            atol=1e-3,  # boxes in pixels
            ranked=True,
        )
        meta = {"input_format": cfg.INPUT.FORMAT, "input": "(3, H, W) test-transform output",
                "outputs_schema": str(self.adapter.outputs_schema)}  # fmt: skip
        super().__init__([graph], meta)

    def __call__(self, batched_inputs, run):
        results = []
        for x in batched_inputs:
            image = x["image"].to(self.model.device).float()
            ranked = run("model", image)
            outputs = [None] * len(ranked) + [torch.tensor(image.shape[-2:])]
            for i, out in zip(self.order, ranked):
                outputs[i] = torch.as_tensor(out)[0]
            instances = self.adapter.outputs_schema(outputs)[0]["instances"]
            sizes = [tuple(image.shape[-2:])]
            results += GeneralizedRCNN._postprocess([instances], [x], sizes)
        return results


def export_mask_rcnn(model, cfg):
    """The spec's exporter: :class:`MaskRCNNExportable` (TorchScript)."""
    return MaskRCNNExportable(model, cfg)
