"""Export of CornerNet and CenterNet-Triplet (``tools/export_model.py``; the specs' exporter).

One graph ``model``: ``images`` (1, 3, H, W), the normalised official test canvas of one scale
(``CornerNet._network_input``: the image resized, centred on a (h | 127) x (w | 127) zero canvas,
normalised), any H / W -> ``CornerNet.detect``: the flip-test batch, Hourglass-104, corner (and
cascade / centre) pooling and the last stack's heads: the raw maps ``CornerNet.map_names`` (heat
logits, tags, offsets; F = 2 with FLIP_TEST), continuous outputs checked within tolerance. Corner
pooling (a running max, which ONNX lacks) exports as a doubling scan of maxima
(``layers.center_heatmaps``; exact).

Python keeps the decisions, the eager model's own functions: ``CornerNet.rows`` (heatmap NMS by
max-pool, top-K peaks, corner matching by class, tag distance and geometry, the NUM_DETS best
pairs, flip and output-ratio rescaling) and ``CornerNet.postprocess`` (border removal, clipping,
scales, valid rows, the centre-region check, per-class soft-NMS). They are not in the graph:
values tied within rounding are ranked otherwise by another runtime, and one peak ranked
otherwise moves a hundred rows (on the CenterNet-Triplet fixture, two top-left peaks 5e-7 apart
swapped ranks in TorchScript with BatchNorm folded, which changed which of the thousands of
rejected pairs, all scored -1, fill the NUM_DETS rows), so no tolerance could check them.

Tolerance: atol 1e-3 plus 2e-5 of each map's largest |value| (``ExportGraph.rtol_of_max``): on
the fixture canvas (|logits| <= 6.4) ONNX Runtime differs by <= 5.4e-4, TorchScript by 5e-5; on
canvases these random fixture weights were not calibrated for the maps reach 1.4e5 and differ by
<= 0.51 (3.6e-6 of the largest) in ONNX Runtime, where they cross zero too. Inductor (its own
BatchNorm folding and fused convolutions) on the HG-104 fixture's 255×127 check canvas: 0.48 at
5.7e4 (8.4e-6; up to 1.1e-5 on another map), where the eager model with and without its
BatchNorm folded differs by 0.20 (6.2e-6).
"""

import torch
from torch import nn

from ..export import Exportable, ExportGraph

__all__ = ["CornerNetGraph", "CornerNetExportable", "export_cornernet"]

RTOL, ATOL = 2e-5, 1e-3  # module docstring


class CornerNetGraph(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, images):
        return self.model.detect(images)


class CornerNetExportable(Exportable):
    def __init__(self, model, cfg):
        self.model = model.eval()
        g = torch.Generator().manual_seed(0)

        def canvas(h, w):  # a smooth random image on the official canvas, normalised
            low = torch.rand(1, 3, 4, 4, generator=g) * 255
            image = nn.functional.interpolate(low, (h, w), mode="bilinear", align_corners=False)
            return model.normalize(image + torch.rand(1, 3, h, w, generator=g) * 40)

        graph = ExportGraph(
            name="model",
            module=CornerNetGraph(self.model).eval(),
            example_inputs=(canvas(127, 255),),
            input_names=["images"],
            output_names=list(model.map_names),
            dynamic_axes={"images": {2: "height", 3: "width"}},
            check_inputs=[(canvas(255, 127),)],
            rtol=RTOL,
            atol=ATOL,
            rtol_of_max=True,
        )
        meta = {
            "input_format": cfg.INPUT.FORMAT,
            "input": "normalised official test canvas ((h | 127) x (w | 127), image centred)",
            "flip_test": model.flip_test,
            "test_scales": list(model.test_scales),
        }
        super().__init__([graph], meta)

    def __call__(self, batched_inputs, run):
        return [self.model.inference_single(x, run) for x in batched_inputs]


def export_cornernet(model, cfg):
    """The specs' exporter (CornerNet and CenterNet-Triplet): :class:`CornerNetExportable`."""
    return CornerNetExportable(model, cfg)
