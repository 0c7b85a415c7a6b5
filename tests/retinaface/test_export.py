"""RetinaFace export (ONNX in ONNX Runtime, TorchScript) on the parity-fixture weights (MobileNet
0.25): on the fixture image and on a real photo 640 px wide (dynamic H / W),
the graph outputs (scores, decoded boxes / landmarks over every anchor) within 1e-3 and the
final detections equal to eager's."""

import torch

from tests.export.common import (
    assert_instances_equal,
    backends_match_eager,
    photo_bgr,
    requires_photos,
)
from tests.parity import converted_model, load_fixture, requires_fixtures
from vision_plugins.retinaface.export import export_retinaface

pytestmark = [requires_fixtures, requires_photos]


def _input(bgr):
    h, w = bgr.shape[:2]
    return {"image": torch.as_tensor(bgr.transpose(2, 0, 1).astype("float32")), "height": h,
            "width": w}  # fmt: skip


def test_retinaface_export_matches_eager(tmp_path):
    manifest, state_dict, image, _ = load_fixture("retinaface_mnet")
    cfg, model, _ = converted_model(
        tmp_path, "retinaface_mnet", state_dict, "RetinaFace/retinaface_mnet025_widerface.yaml"
    )
    assert cfg.INPUT.FORMAT == "BGR"
    fixture = {"image": torch.as_tensor(image.transpose(2, 0, 1).copy()),
               "height": image.shape[0], "width": image.shape[1]}  # fmt: skip
    inputs = [[fixture], [_input(photo_bgr(640))]]
    out = backends_match_eager(
        model, export_retinaface(model, cfg), inputs, tmp_path,
        lambda a, b: assert_instances_equal(a, b, box_atol=1e-2, score_atol=1e-4),
        inductor=True,
    )  # fmt: skip
    assert set(out) == {"onnx", "torchscript", "inductor"}
    for fmt in out:
        assert len(out[fmt][0][0]["instances"]) > 0 and len(out[fmt][1][0]["instances"]) > 0
