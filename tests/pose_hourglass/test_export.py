"""Stacked Hourglass and the regression baseline exported to ONNX (ONNX Runtime) and TorchScript
(the hourglass on its 2-stack parity-fixture weights with the flip test, as the official test:
slow; small seeded models of both in CI): on the fixture crop and on a real photo through the
Predictor's test transform, the graph outputs (joints in crop pixels within 1e-3, peaks /
heatmaps within 1e-4) and the final keypoints equal to eager's."""

from collections import OrderedDict

import numpy as np
import pytest
import torch

from tests.export.common import backends_match_eager, photo_bgr, requires_photos
from tests.parity import converted_model, load_fixture, requires_fixtures
from vision_plugins.engine import Predictor, Trainer, setup_cfg
from vision_plugins.pose_hourglass.export import export_pose

pytestmark = [requires_fixtures, requires_photos]


def _same_keypoints(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        a, b = a["instances"], b["instances"]
        torch.testing.assert_close(a.pred_keypoints, b.pred_keypoints, rtol=0, atol=1e-3)
        torch.testing.assert_close(a.scores, b.scores, rtol=0, atol=1e-4)
        if b.has("pred_heatmaps"):
            torch.testing.assert_close(a.pred_heatmaps, b.pred_heatmaps, rtol=0, atol=1e-4)


def _inputs(cfg, model, fixture_rgb):
    photo = Predictor(cfg, model=model).preprocess(photo_bgr())  # the test transform's crop
    crop = {"image": torch.from_numpy(np.ascontiguousarray(fixture_rgb.transpose(2, 0, 1))),
            "height": 256, "width": 256}  # fmt: skip
    return [[crop], [photo]]


@pytest.mark.slow  # ~45 s here (load average 5 on 2 cores)
def test_stacked_hourglass_export_matches_eager(tmp_path):
    torch.set_flush_denormal(True)  # synthetic weights: denormals make the CPU ~10x slower
    try:
        manifest, sd, image, _ = load_fixture("shg_2stack")
        official = OrderedDict(("model.module." + k, v) for k, v in sd.items())
        cfg, model, _ = converted_model(tmp_path, "shg", {"state_dict": official, "epoch": 0},
                                        "StackedHourglass/shg_2stack_mpii.yaml")  # fmt: skip
        assert model.flip_test
        rgb = image[:, :, ::-1]  # the fixture image is BGR (README_shg)
        out = backends_match_eager(
            model,
            export_pose(model, cfg),
            _inputs(cfg, model, rgb),
            tmp_path,
            _same_keypoints,
            inductor=True,
        )
    finally:
        torch.set_flush_denormal(False)
    assert set(out) == {"onnx", "torchscript", "inductor"}


@pytest.mark.parametrize(
    "config", ["shg_2stack_synth_pose_mpii.yaml", "regression_2stack_synth_pose_mpii.yaml"]
)
def test_small_pose_export_matches_eager(tmp_path, config):
    """The CI-sized check of both models (2 stacks, 32 channels, 128² crops, flip test, seeded
    random weights); the fixture-weight check of the full-size hourglass is marked slow."""
    cfg = setup_cfg(f"configs/StackedHourglass/{config}",
                    ["MODEL.DEVICE", "cpu", "MODEL.POSE_HOURGLASS.INP_DIM", "32"])  # fmt: skip
    torch.manual_seed(0)
    model = Trainer.build_model(cfg).eval()
    assert model.flip_test
    g = torch.Generator().manual_seed(0)
    r = cfg.MODEL.POSE_HOURGLASS.INPUT_RES
    image = torch.randint(0, 256, (3, r, r), generator=g).float()
    crop = {"image": image, "height": r, "width": r}
    photo = Predictor(cfg, model=model).preprocess(photo_bgr())
    out = backends_match_eager(model, export_pose(model, cfg), [[crop], [photo]], tmp_path,
                               _same_keypoints, inductor=True)  # fmt: skip
    assert set(out) == {"onnx", "torchscript", "inductor"}
