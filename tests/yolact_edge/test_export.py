"""TorchScript export of YolactEdge: the saved keyframe / non-keyframe graphs give the eager
model's outputs, and a streamed clip through them gives the eager model's detections."""

import json

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer

from tests.tool_scripts import load_tool
from tests.yolact_edge.test_model import CONFIG, TINY
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.yolact.box_ops import decode_boxes

OPTS = TINY + ["MODEL.YOLACT_EDGE.KEYFRAME_INTERVAL", "3"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    export_model = load_tool("export_model")

    tmp = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    model = Trainer.build_model(setup_cfg(CONFIG, OPTS))
    with torch.no_grad():
        model.head.conf_layer.bias.view(-1, 4)[:, 1] += 4.0
    DetectionCheckpointer(model, save_dir=str(tmp)).save("weights")
    weights = str(tmp / "weights.pth")
    assert export_model.main(["--config-file", CONFIG, "--output", str(tmp / "out"),
                              *OPTS, "MODEL.WEIGHTS", weights]) == 0  # fmt: skip
    model.eval()
    return model, tmp / "out"


def test_exported_graphs_match_the_eager_model(exported):
    model, out = exported
    meta = json.loads((out / "export.json").read_text())
    assert meta["input_size"] == 64 and meta["keyframe_interval"] == 3
    keyframe = torch.jit.load(str(out / "keyframe.ts"))
    nonkeyframe = torch.jit.load(str(out / "nonkeyframe.ts"))
    g = torch.Generator().manual_seed(7)
    frames = [torch.rand(1, 3, 64, 64, generator=g) * 255 for _ in range(4)]
    model.reset()
    with torch.no_grad():
        eager = model([{"image": f[0], "video_id": 1} for f in frames])
        state = None
        for i, (f, e) in enumerate(zip(frames, eager)):
            if i % 3 == 0:
                loc, conf, coefs, priors, proto, *state = keyframe(f)
            else:
                loc, conf, coefs, priors, proto = nonkeyframe(f, *state)
            assert e["is_keyframe"] == (i % 3 == 0)
            inst = model.inference_single(decode_boxes(loc[0], priors), conf[0].softmax(-1),
                                          coefs[0], proto[0], 64, 64)  # fmt: skip
            assert len(inst) == len(e["instances"]) > 0
            torch.testing.assert_close(inst.scores, e["instances"].scores, rtol=0, atol=1e-5)
            torch.testing.assert_close(inst.pred_boxes.tensor, e["instances"].pred_boxes.tensor,
                                       rtol=0, atol=1e-3)  # fmt: skip
            assert (inst.pred_masks == e["instances"].pred_masks).float().mean() > 0.999


def test_export_refuses_other_architectures(tmp_path):
    export_model = load_tool("export_model")

    with pytest.raises(SystemExit, match="no exporter"):
        export_model.main(["--config-file", "configs/YOLACT/yolact_R_18_FPN_synth_shapes.yaml",
                           "--output", str(tmp_path)])  # fmt: skip
