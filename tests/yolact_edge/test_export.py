"""YolactEdge export (TorchScript; ONNX in ONNX Runtime): ``tools/export_model.py`` writes the
keyframe / non-keyframe graphs and YOLACT's masks graph (each checked against eager by the tool),
and a clip streamed through them (keyframe schedule and state carried by
``YolactEdgeExportable``) gives the eager model's detections frame by frame: graph outputs within
each graph's tolerance, instances equal (classes,
scores 1e-4, boxes 1e-2 px, masks), ``is_keyframe`` equal. Frames: the real photo shifted and
scaled, at the 64² network size of a small random model."""

import json

import numpy as np
import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer

from tests.export.common import KIND, photo_bgr, requires_photos
from tests.tool_scripts import load_tool
from tests.yolact.test_export import assert_same_detections, yolact_input
from tests.yolact_edge.test_model import CONFIG, TINY
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.export import check_against_eager, deploy_missing
from vision_plugins.export.backends import load_backend
from vision_plugins.yolact_edge.export import export_yolact_edge

OPTS = TINY + ["MODEL.YOLACT_EDGE.KEYFRAME_INTERVAL", "3", "MODEL.DEVICE", "cpu"]
FORMATS = ["torchscript"] + ([] if deploy_missing() else ["onnx"])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    export_model = load_tool("export_model")
    tmp = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    cfg = setup_cfg(CONFIG, OPTS)
    model = Trainer.build_model(cfg)
    with torch.no_grad():
        model.head.conf_layer.bias.view(-1, 4)[:, 1] += 4.0
    DetectionCheckpointer(model, save_dir=str(tmp)).save("weights")
    for fmt in FORMATS:
        args = ["--config-file", CONFIG, "--output", str(tmp / fmt), "--format", fmt]
        assert export_model.main(args + OPTS + ["MODEL.WEIGHTS", str(tmp / "weights.pth")]) == 0
    return cfg, model.eval(), tmp


def _clip(cfg, n=5):
    """A moving crop of the real photo: n frames, video 7."""
    bgr = photo_bgr(400)
    frames = []
    for i in range(n):
        crop = np.ascontiguousarray(bgr[10 * i : 10 * i + 200, 15 * i : 15 * i + 300])
        frames.append({**yolact_input(cfg, crop), "video_id": 7})
    return frames


@requires_photos
@pytest.mark.parametrize("fmt", FORMATS)
def test_exported_graphs_stream_like_the_eager_model(exported, fmt):
    cfg, model, tmp = exported
    meta = json.loads((tmp / fmt / "export.json").read_text())
    assert meta["input_size"] == 64 and meta["keyframe_interval"] == 3
    assert set(meta["graphs"]) == {"keyframe", "nonkeyframe", "masks"}
    exportable = export_yolact_edge(model, cfg)
    backend = load_backend(KIND[fmt], exportable, str(tmp / fmt))
    log = []

    def recorded(name, *tensors):
        log.append((name, tensors))
        return backend.run(name, *tensors)

    frames = _clip(cfg)
    model.reset()
    with torch.no_grad():
        want = model(frames)
        got = exportable(frames, recorded)
    assert [o["is_keyframe"] for o in got] == [o["is_keyframe"] for o in want]
    assert [o["is_keyframe"] for o in got] == [True, False, False, True, False]
    assert [name for name, _ in log] == ["keyframe", "masks", "nonkeyframe", "masks",
                                         "nonkeyframe", "masks", "keyframe", "masks",
                                         "nonkeyframe", "masks"]  # fmt: skip
    assert_same_detections(got, want)
    assert all(len(o["instances"]) > 0 for o in got)
    for name, tensors in log:  # every graph call: outputs within the graph's tolerance
        graph = exportable.graph(name)
        check_against_eager(
            lambda *t: backend.run(name, *t), graph, tensors, name, graph.rtol, graph.atol
        )
    # single images (no video_id) are keyframes, as for the eager model
    single = [{k: v for k, v in frames[1].items() if k != "video_id"}]
    with torch.no_grad():
        assert_same_detections(exportable(single, backend.run), model(single))


def test_export_refuses_architectures_without_exporter(tmp_path):
    export_model = load_tool("export_model")

    with pytest.raises(SystemExit, match="no exporter"):
        export_model.main(["--config-file", "configs/UPSNet/upsnet_R_18_FPN_synth_panoptic.yaml",
                           "--output", str(tmp_path)])  # fmt: skip
