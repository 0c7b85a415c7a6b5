"""Optional: our backbone + ``shg`` converter + decoder against the official code itself.

Set ``VP_OFFICIAL_SHG=/path/to/pytorch_stacked_hourglass`` (a checkout of
princeton-vl/pytorch_stacked_hourglass); the official ``PoseNet`` is built with random weights
(BN statistics randomised), saved in its checkpoint layout, converted, and both networks and
``HeatmapParser`` are compared. Covers what the CI fixtures do not: ``increase`` > 0."""

import os
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from tests.official import opened, stacked_hourglass
from vision_plugins.checkpoint import convert_checkpoint
from vision_plugins.engine import Predictor, setup_cfg
from vision_plugins.layers import decode_heatmaps_quarter_offset
from vision_plugins.pose_hourglass.backbone import PoseHourglassBackbone

OFFICIAL = os.environ.get("VP_OFFICIAL_SHG")
pytestmark = pytest.mark.skipif(
    not OFFICIAL, reason="set VP_OFFICIAL_SHG to a pytorch_stacked_hourglass checkout"
)


@pytest.fixture(scope="module")
def official():
    """The official modules, imported from the checkout (its top-level packages are removed
    from sys.modules afterwards: they are named models/task/utils)."""
    with stacked_hourglass.official_stacked_hourglass(OFFICIAL) as ns:
        yield ns.PoseNet, ns.HeatmapParser


@pytest.fixture
def official_runner():
    """``official_runner(path, cfg, model, image) -> run``: the benchmark runner, open until the
    test ends."""
    with opened(stacked_hourglass.runner) as open_runner:
        yield open_runner


class _Wrapper(nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone


@pytest.mark.parametrize("nstack,inp_dim,increase", [(2, 32, 0), (1, 32, 8)])
def test_matches_the_official_posenet(official, tmp_path, nstack, inp_dim, increase):
    PoseNet, HeatmapParser = official
    torch.manual_seed(nstack + increase)
    net = PoseNet(nstack, inp_dim, 16, increase=increase).eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    src, dst = tmp_path / "checkpoint.pt", tmp_path / "d2.pth"
    sd = OrderedDict(("model.module." + k, v) for k, v in net.state_dict().items())
    torch.save({"state_dict": sd, "epoch": 0}, src)
    convert_checkpoint("shg", str(src), str(dst))
    ours = _Wrapper(
        PoseHourglassBackbone(nstack=nstack, inp_dim=inp_dim, oup_dim=16, increase=increase)
    )
    ours.load_state_dict(torch.load(dst, weights_only=True)["model"], strict=True)
    ours.eval()

    x = torch.rand(1, 128, 128, 3)  # the official network takes NHWC
    with torch.no_grad():
        expected = net(x)
        out = ours.backbone(x.permute(0, 3, 1, 2))
    got = torch.stack([out[f] for f in ours.backbone._out_features], 1)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)

    last = expected[0, -1].numpy()
    joints = HeatmapParser().parse(np.float32([last]))[0][0, :, :2]
    coords, _ = decode_heatmaps_quarter_offset(torch.from_numpy(last)[None])
    np.testing.assert_array_equal(coords[0].double().numpy(), joints)


def test_benchmark_runner_computes_the_official_predictions(official_runner):
    """``tools/benchmark.py --official`` times the official inference; it must compute what our
    Predictor computes (official coordinates are truncated to int by ``utils.img.transform``)."""
    cfg = setup_cfg(
        "configs/StackedHourglass/shg_2stack_mpii.yaml",
        ["MODEL.POSE_HOURGLASS.INP_DIM", "32", "MODEL.POSE_HOURGLASS.INPUT_RES", "128",
         "MODEL.POSE_HOURGLASS.OUTPUT_RES", "32"],
    )  # fmt: skip
    torch.manual_seed(0)
    predictor = Predictor(cfg)
    for m in predictor.model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    image = np.random.RandomState(0).randint(0, 255, (128, 128, 3), dtype=np.uint8)
    official = official_runner(OFFICIAL, cfg, predictor.model, image)()
    ours = predictor(image)["instances"].pred_keypoints[0, :, :2].numpy()
    np.testing.assert_array_less(np.abs(ours - official[0, :, :2]), 1.0)
