"""Mask R-CNN / Keypoint R-CNN export through detectron2's TracingAdapter (TorchScript; ONNX
refused with the reason), small random models on a real photo (shortest edge 320, pasted back at
the photo's size): the graph checked against eager on export (its example, rows within 1e-3) and
the final instances equal to eager's, paired one to one (count, classes, scores 1e-4, boxes
1e-2 px, masks pixel for pixel, keypoints 1e-2 px)."""

import numpy as np
import pytest
import torch
from detectron2.data import transforms as T
from scipy.optimize import linear_sum_assignment

from tests.export.common import photo_bgr, requires_photos
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.export import OnnxUnsupported, export_model
from vision_plugins.export.backends import load_backend
from vision_plugins.mask_rcnn.export import export_mask_rcnn

pytestmark = requires_photos
CONFIGS = [
    "configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml",
    "configs/Mask-RCNN/keypoint_rcnn_R_18_FPN_synth_people.yaml",
]


def assert_paired_instances(got, want):
    """Same instances in the first output, paired one to one by class, score and box (near-tied,
    even duplicate, detections may be ordered differently): count, classes, scores 1e-4, boxes
    1e-2 px, masks pixel for pixel, keypoints 1e-2 px."""
    a, b = got[0]["instances"], want[0]["instances"]
    assert len(a) == len(b) and a.image_size == b.image_size
    cost = (a.scores[None, :] - b.scores[:, None]).abs() * 1e3
    cost = cost + torch.cdist(b.pred_boxes.tensor, a.pred_boxes.tensor, p=1)
    cost[b.pred_classes[:, None] != a.pred_classes[None, :]] = 1e9
    a = a[torch.as_tensor(linear_sum_assignment(cost.numpy())[1])]
    assert torch.equal(a.pred_classes, b.pred_classes)
    torch.testing.assert_close(a.scores, b.scores, rtol=0, atol=1e-4)
    torch.testing.assert_close(a.pred_boxes.tensor, b.pred_boxes.tensor, rtol=0, atol=1e-2)
    if b.has("pred_masks"):
        assert torch.equal(a.pred_masks, b.pred_masks)
    if b.has("pred_keypoints"):
        torch.testing.assert_close(a.pred_keypoints, b.pred_keypoints, rtol=0, atol=1e-2)


@pytest.mark.parametrize("config", CONFIGS)
def test_mask_rcnn_export_matches_eager(tmp_path, config):
    cfg = setup_cfg(config, ["MODEL.DEVICE", "cpu", "INPUT.MIN_SIZE_TEST", "320"])
    torch.manual_seed(0)
    model = Trainer.build_model(cfg).eval()
    bgr = photo_bgr()
    image = bgr if cfg.INPUT.FORMAT == "BGR" else bgr[:, :, ::-1]
    aug = T.AugInput(np.ascontiguousarray(image))
    T.ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)(aug)
    x = {"image": torch.as_tensor(aug.image.transpose(2, 0, 1).copy()),
         "height": bgr.shape[0], "width": bgr.shape[1]}  # fmt: skip
    exportable = export_mask_rcnn(model, cfg)
    assert exportable.formats == ("torchscript",)
    export_model(exportable, "torchscript", str(tmp_path / "ts"))  # checked on its example
    backend = load_backend("torchscript", exportable, str(tmp_path / "ts"))
    with torch.no_grad():
        want = model([x])
        assert_paired_instances(exportable([x], exportable.run_eager), want)
        got = exportable([x], backend.run)
    assert_paired_instances(got, want)
    inst = got[0]["instances"]
    assert len(inst) > 0 and inst.image_size == bgr.shape[:2]
    assert inst.has("pred_keypoints" if cfg.MODEL.KEYPOINT_ON else "pred_masks")
    with pytest.raises(OnnxUnsupported, match="GuardOnDataDependentSymNode"):
        export_model(exportable, "onnx", str(tmp_path / "onnx"))
