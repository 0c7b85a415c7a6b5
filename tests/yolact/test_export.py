"""YOLACT / YOLACT++ export (ONNX in ONNX Runtime, TorchScript): the ``model`` graph holds the
network and box decoding, the ``masks`` graph mask assembly / crop and YOLACT++'s mask-IoU
rescoring; the decisions between them (``YOLACT.select``: confidence filter, Fast NMS) and the
Python after them (``detections_to_instances``) are the eager model's own.

On the parity-fixture weights, on the fixture input and on a real photo (test transform to
550², masks pasted at the photo's size), in ONNX Runtime, TorchScript and Inductor: graph outputs
within atol 2e-4 (coefficients 5e-4, boxes also rtol 1e-4; scores, prototypes, sigmoid masks)
and the final detections equal to eager's —
same count, classes, masks (all but 1e-5 of the pixels), scores within 1e-4, boxes within 1e-2
px. YOLACT++ (deformable convolutions: ONNX ``DeformConv``, opset 19) and cross-class NMS on small
random models in CI; the fixture-weight tests and R-50 with random weights (the export tool's
check) are in the slow suite (R-50 / DCN R-50 at 550² take minutes here)."""

import numpy as np
import pytest
import torch
from detectron2.data import transforms as T
from scipy.optimize import linear_sum_assignment

from tests.export.common import (
    backends_match_eager,
    photo_bgr,
    requires_photos,
)
from tests.parity import converted_model, load_fixture, requires_fixtures
from tests.tool_scripts import load_tool
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.export import deploy_missing
from vision_plugins.yolact.box_ops import canonical_order
from vision_plugins.yolact.export import export_yolact
from vision_plugins.yolact.mapper import build_yolact_test_augmentation

FIXTURES = {
    "yolact_R_50": ("yolact", "yolact_R_50_FPN_550_coco.yaml"),
    "yolact_plus_R_50": ("yolact_plus", "yolact_plus_R_50_FPN_550_coco.yaml"),
}


# mask pixels that may differ: a resized sigmoid within rounding of 0.5 (measured: 0 of 67e6
# pixels on the photo, a handful of the fixture's 6.3e6)
MASK_PIXELS_TOL = 1e-5


def assert_same_detections(got, want):
    """Same instances, paired one to one by class, score and box (two detections whose scores
    differ by rounding may swap places between backends: only such swaps are allowed): count,
    classes, scores within 1e-4, boxes within 1e-2 px, masks (all but MASK_PIXELS_TOL of the
    pixels), mask scores within 1e-4."""
    assert len(got) == len(want)
    for a, b in zip(got, want):
        a, b = a["instances"], b["instances"]
        assert len(a) == len(b) and a.image_size == b.image_size
        cost = (a.scores[None, :] - b.scores[:, None]).abs() * 1e3
        cost = cost + torch.cdist(b.pred_boxes.tensor, a.pred_boxes.tensor, p=1)
        cost[b.pred_classes[:, None] != a.pred_classes[None, :]] = 1e9
        rows, order = linear_sum_assignment(cost.numpy())
        order = torch.as_tensor(order)
        moved = order != torch.arange(len(b))
        if moved.any():  # swapped places only where the scores tie within rounding
            ties = (b.scores[moved, None] - b.scores[None, :]).abs().sort(1)[0][:, 1]
            assert ties.max().item() <= 1e-5, ties
        a = a[order]
        assert torch.equal(a.pred_classes, b.pred_classes)
        torch.testing.assert_close(a.scores, b.scores, rtol=0, atol=1e-4)
        torch.testing.assert_close(a.pred_boxes.tensor, b.pred_boxes.tensor, rtol=0, atol=1e-2)
        assert (a.pred_masks != b.pred_masks).float().mean() <= MASK_PIXELS_TOL
        if b.has("mask_scores"):
            torch.testing.assert_close(a.mask_scores, b.mask_scores, rtol=0, atol=1e-4)


def yolact_input(cfg, bgr):
    """The evaluation loader's / Predictor's input of a BGR photo (test transform to S²)."""
    image = bgr if cfg.INPUT.FORMAT == "BGR" else bgr[:, :, ::-1]
    aug = T.AugInput(np.ascontiguousarray(image))
    T.AugmentationList(build_yolact_test_augmentation(cfg))(aug)
    return {"image": torch.as_tensor(aug.image.transpose(2, 0, 1).astype("float32")),
            "height": bgr.shape[0], "width": bgr.shape[1]}  # fmt: skip


def _fixture_case(tmp_path, name):
    arch, config = FIXTURES[name]
    manifest, state_dict, image, _ = load_fixture(name)
    cfg, model, _ = converted_model(tmp_path, arch, state_dict, f"YOLACT/{config}")
    h, w = manifest["output_size"]["height"], manifest["output_size"]["width"]
    chw = image[:, :, ::-1] if cfg.INPUT.FORMAT == "RGB" else image
    fixture = {"image": torch.from_numpy(np.ascontiguousarray(chw.transpose(2, 0, 1))).float(),
               "height": h, "width": w}  # fmt: skip
    return cfg, model, [[fixture], [yolact_input(cfg, photo_bgr(560))]]


def _check(model, cfg, inputs, tmp_path):
    out = backends_match_eager(model, export_yolact(model, cfg), inputs, tmp_path,
                               assert_same_detections, inductor=True)  # fmt: skip
    for fmt, results in out.items():
        for r in results:
            assert len(r[0]["instances"]) > 0, fmt
    return out


@pytest.mark.slow  # ~3.5 min here (R-50 550², both formats; load average ~10 on 2 cores)
@requires_fixtures
@requires_photos
def test_yolact_fixture_export_matches_eager(tmp_path):
    cfg, model, inputs = _fixture_case(tmp_path, "yolact_R_50")
    out = _check(model, cfg, inputs, tmp_path)
    assert set(out) == {"onnx", "torchscript", "inductor"}
    assert len(out["onnx"][0][0]["instances"]) == 100  # the fixture's official count


@pytest.mark.slow
@requires_fixtures
@requires_photos
def test_yolact_plus_fixture_export_matches_eager(tmp_path):
    cfg, model, inputs = _fixture_case(tmp_path, "yolact_plus_R_50")
    out = _check(model, cfg, inputs, tmp_path)
    assert set(out) == {"onnx", "torchscript", "inductor"}
    assert out["onnx"][0][0]["instances"].has("mask_scores")


def _small_model(opts):
    cfg = setup_cfg("configs/YOLACT/yolact_R_18_FPN_synth_shapes.yaml", SMALL + opts)
    torch.manual_seed(0)
    model = Trainer.build_model(cfg).eval()
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "conv_offset_mask"):  # real offsets, not the zero init
                m.conv_offset_mask.weight.normal_(0, 0.02)
        model.head.conf_layer.bias.view(-1, cfg.MODEL.YOLACT.NUM_CLASSES + 1)[:, 1] += 3.0
    return cfg, model


SMALL = ["MODEL.YOLACT.FPN_CHANNELS", "16", "MODEL.YOLACT.NUM_PROTOTYPES", "4",
         "MODEL.YOLACT.NMS.TOP_K", "50", "MODEL.YOLACT.NMS.MAX_DETECTIONS", "30",
         "MODEL.DEVICE", "cpu"]  # fmt: skip


@requires_photos
def test_small_yolact_plus_with_deformable_convs_exports_to_onnx(tmp_path):
    """DCN blocks in res5 (ONNX DeformConv) and mask-IoU rescoring (256²: 64² prototypes)."""
    cfg, model = _small_model(
        ["MODEL.YOLACT.MAX_SIZE", "256", "MODEL.RESNETS.DEPTH", "50",
         "MODEL.YOLACT.DCN_STAGES", "[0, 0, 0, 2]", "MODEL.YOLACT.MASKIOU.ENABLED", "True"]
    )  # fmt: skip
    out = _check(model, cfg, [[yolact_input(cfg, photo_bgr(320))]], tmp_path)
    assert out["onnx"][0][0]["instances"].has("mask_scores")


@requires_photos
def test_small_yolact_cross_class_nms_exports(tmp_path):
    cfg, model = _small_model(
        ["MODEL.YOLACT.MAX_SIZE", "96", "MODEL.YOLACT.NMS.CROSS_CLASS", "True"]
    )
    assert model.cross_class_nms
    _check(model, cfg, [[yolact_input(cfg, photo_bgr(320))]], tmp_path)


@pytest.mark.slow  # ~2 min here (R-50 550² to ONNX, checked in ONNX Runtime; loaded 2 cores)
@pytest.mark.skipif(deploy_missing() is not None, reason=f"{deploy_missing()}")
def test_yolact_random_weights_export_to_onnx_passes_the_check(tmp_path):
    """``tools/export_model.py`` on YOLACT R-50 with random (seeded) weights: its check against
    eager passes. Random weights give many candidates whose best score is within rounding of the
    confidence threshold; when the threshold and Fast NMS were in the graph, ONNX Runtime kept
    another candidate set than eager and the check failed (seed 1: 88 of the 100 slots differ)."""
    torch.manual_seed(1)
    export_model = load_tool("export_model")
    assert export_model.main([
        "--config-file", "configs/YOLACT/yolact_R_50_FPN_550_coco.yaml", "--format", "onnx",
        "--output", str(tmp_path), "MODEL.WEIGHTS", "", "MODEL.DEVICE", "cpu",
    ]) == 0  # fmt: skip


def test_canonical_order_is_by_class_then_prior_with_empty_slots_last():
    idx = torch.tensor([[7, 2, 5, 9]])
    classes = torch.tensor([[1, 0, 1, 3]])
    scores = torch.tensor([[0.9, 0.8, -1.0, 0.7]])
    i, c, s = canonical_order(idx, classes, scores, num_priors=10)
    assert i.tolist() == [[2, 7, 9, 0]] and c.tolist() == [[0, 1, 3, 0]]
    assert s[0].tolist() == pytest.approx([0.8, 0.9, 0.7, -1.0])
