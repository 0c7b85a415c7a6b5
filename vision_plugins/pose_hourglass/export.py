"""Export of the Stacked Hourglass pose model and the regression baseline (the specs' exporter;
``tools/export_model.py``).

One graph ``model``: ``images`` (1, 3, R, R) normalised person crop (R = INPUT_RES, as
``preprocess_image`` makes it from the test transform's crop) -> ``keypoints`` (1, K, 2) in crop
pixels and ``scores`` (1, K) (the heatmap model adds ``heatmaps`` (1, K, R/4, R/4)): the network,
flip-test merging (TEST flag) and the decoding (3x3 max-pool NMS, argmax, quarter-pixel offset;
regression: clamp to the crop) -- ``inference_raw``. Python keeps ``postprocess_decoded`` (crop
to image coordinates, ``Instances``), as the eager model. Fixed size: the official test runs
R x R crops.
"""

import torch
from torch import nn

from ..export import Exportable, ExportGraph

__all__ = ["PoseGraph", "PoseExportable", "export_pose"]


class PoseGraph(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, images):
        return self.model.inference_raw(images)


class PoseExportable(Exportable):
    def __init__(self, model, cfg):
        self.model = model.eval()
        r = model.input_res
        g = torch.Generator().manual_seed(0)
        heatmaps = not hasattr(model, "regressor")
        outputs = ["keypoints", "scores"] + (["heatmaps"] if heatmaps else [])
        graph = ExportGraph(
            name="model",
            module=PoseGraph(self.model).eval(),
            example_inputs=(torch.rand(1, 3, r, r, generator=g),),
            input_names=["images"],
            output_names=outputs,
            check_inputs=[(torch.rand(1, 3, r, r, generator=g),)],
            # keypoints: multiples of 0.25 px from an argmax, exact unless two values tie within
            # the runtimes' rounding (the tests compare the decoded joints on fixture weights)
            rtol=0,
            atol=(1e-3, 1e-4, 1e-4)[: len(outputs)],
            onnx_dynamo=False,  # fixed size; the dynamo exporter takes ~10x longer on it
        )
        meta = {"input_format": cfg.INPUT.FORMAT, "input_size": r,
                "input": "normalised R x R crop"}  # fmt: skip
        super().__init__([graph], meta)

    def __call__(self, batched_inputs, run):
        results = []
        for x in batched_inputs:
            images = self.model.preprocess_image([x])
            results += self.model.postprocess_decoded([x], *run("model", images))
        return results


def export_pose(model, cfg):
    return PoseExportable(model, cfg)
