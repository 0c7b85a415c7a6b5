"""Optional: CenterNet-OAP against xingyizhou/CenterNet itself (``VP_OFFICIAL_CENTERNET_OAP`` =
the repository root; skipped when unset): the benchmark runner's official ``CtdetDetector``
steps give the detections our model gives, with the fixture weights (res18, resdcn18, hg)."""

import os

import numpy as np
import pytest
import torch

from tests.official import centernet_oap, opened
from tests.parity import REPO, load_fixture, requires_fixtures
from vision_plugins.checkpoint import convert_checkpoint
from vision_plugins.engine import Predictor, setup_cfg

OFFICIAL = os.environ.get("VP_OFFICIAL_CENTERNET_OAP")
pytestmark = [
    requires_fixtures,
    pytest.mark.skipif(
        not OFFICIAL, reason="set VP_OFFICIAL_CENTERNET_OAP to a CenterNet checkout"
    ),
]


@pytest.fixture
def official_runner():
    """``official_runner(path, cfg, model, image) -> run``: the benchmark runner, open until the
    test ends."""
    with opened(centernet_oap.runner) as open_runner:
        yield open_runner


@pytest.mark.parametrize(
    "name,config",
    [("centernet_oap_res18", "centernet_oap_res18_coco.yaml"),
     ("centernet_oap_resdcn18", "centernet_oap_resdcn18_coco.yaml"),
     ("centernet_oap_hg", "centernet_oap_hg_coco.yaml")],
)  # fmt: skip
def test_official_detector_matches(tmp_path, name, config, official_runner):
    _, sd, image, _ = load_fixture(name)
    torch.save({"epoch": 0, "state_dict": sd}, tmp_path / "o.pth")
    convert_checkpoint(name, str(tmp_path / "o.pth"), str(tmp_path / "d2.pth"))
    cfg = setup_cfg(os.path.join(REPO, "configs", "CenterNet", config),
                    ["MODEL.WEIGHTS", str(tmp_path / "d2.pth")])  # fmt: skip
    predictor = Predictor(cfg)
    dets = official_runner(OFFICIAL, cfg, predictor.model, image)()
    rows = np.concatenate([np.c_[d, np.full(len(d), j - 1)] for j, d in dets.items()])
    rows = rows[np.argsort(-rows[:, 4])]
    ours = predictor(image)["instances"]
    h, w = image.shape[:2]
    np.testing.assert_allclose(ours.scores.numpy(), rows[:, 4], atol=2e-4, rtol=0)
    np.testing.assert_array_equal(ours.pred_classes.numpy(), rows[:, 5])
    ref = rows[:, :4].clip(0, [w, h, w, h])
    np.testing.assert_allclose(ours.pred_boxes.tensor.numpy(), ref, atol=5e-3, rtol=0)
