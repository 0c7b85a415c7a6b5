"""CI parity with princeton-vl/pytorch_stacked_hourglass on the shared fixtures (README_shg.md).

Official-layout checkpoint -> ``tools/convert_weights.py --arch shg`` -> backbone built from a cfg
with the official MPII recipe -> detectron2 normalisation of the fixture image -> heatmaps and the
official ``HeatmapParser.parse`` decoding, without and with the flip test. Tolerances are the
fixture README's.
"""

import os
from collections import OrderedDict

import numpy as np
import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.layers import ShapeSpec

from tests.parity import PARITY, load_fixture, requires_fixtures
from tests.tool_scripts import load_tool
from vision_plugins.engine import setup_cfg
from vision_plugins.layers import (
    decode_heatmaps_quarter_offset,
    flip_average_heatmaps,
    heatmap_nms_peaks,
)
from vision_plugins.pose_hourglass import build_pose_hourglass_backbone
from vision_plugins.pose_hourglass.backbone import Residual

convert_weights = load_tool("convert_weights")

pytestmark = requires_fixtures
FIXTURES = {"shg_2stack": 2, "shg_8stack": 8}


class _Wrapper(torch.nn.Module):
    """Stands for the future meta-architecture: the backbone under ``.backbone``."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone


@pytest.fixture
def cpu_threads():
    """2 threads, denormal floats flushed to zero: the synthetic 8-stack's activations otherwise
    run ~10x slower on CPU (measured: 17 s vs 1.6 s for its two forwards), with the same max
    differences to the fixture either way."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)
    torch.set_num_threads(threads)


def _cfg(nstack):
    return setup_cfg(
        None,
        [
            "MODEL.BACKBONE.NAME", "build_pose_hourglass_backbone",
            "MODEL.POSE_HOURGLASS.NSTACK", nstack,
            "MODEL.POSE_HOURGLASS.INP_DIM", 256,
            "MODEL.POSE_HOURGLASS.OUP_DIM", 16,
            "MODEL.POSE_HOURGLASS.INPUT_RES", 256,
            "MODEL.POSE_HOURGLASS.OUTPUT_RES", 64,
            "INPUT.FORMAT", "RGB",
            "MODEL.PIXEL_MEAN", [0.0, 0.0, 0.0],
            "MODEL.PIXEL_STD", [255.0, 255.0, 255.0],
            "MODEL.DEVICE", "cpu",
        ],
    )  # fmt: skip


def _run(backbone, cfg, image):
    """The detectron2 input dict of the README, normalised as a detectron2 meta-arch does."""
    inp = {
        "image": torch.from_numpy(np.ascontiguousarray(image[:, :, ::-1].transpose(2, 0, 1))),
        "height": 256,
        "width": 256,
    }
    mean = torch.tensor(cfg.MODEL.PIXEL_MEAN).view(-1, 1, 1)
    std = torch.tensor(cfg.MODEL.PIXEL_STD).view(-1, 1, 1)
    x = ((inp["image"].to(torch.float32) - mean) / std)[None]
    # bit-exact with the official network input float32(rgb / 255.0)
    official = torch.from_numpy(np.float32(image[:, :, ::-1] / 255.0)).permute(2, 0, 1)[None]
    assert torch.equal(x, official)
    with torch.no_grad():
        out = backbone(x)
    return torch.stack([out[f] for f in backbone._out_features], 1)


def _assert_decoding(hm, expected, suffix):
    x, y, peaks = heatmap_nms_peaks(hm[None])
    coords, scores = decode_heatmaps_quarter_offset(hm[None])
    np.testing.assert_array_equal(
        torch.stack([x, y], -1)[0].numpy(), expected["argmax_xy" + suffix]
    )
    np.testing.assert_allclose(peaks[0].numpy(), expected["peaks" + suffix], rtol=0, atol=2e-5)
    np.testing.assert_array_equal(scores, peaks)
    np.testing.assert_array_equal(coords[0].double().numpy(), expected["joints" + suffix])


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_shg_parity(tmp_path, cpu_threads, name):
    manifest, sd, image, expected = load_fixture(name)
    src, dst = tmp_path / "checkpoint.pt", tmp_path / "model_d2.pth"
    official = OrderedDict(("model.module." + k, v) for k, v in sd.items())
    torch.save({"state_dict": official, "epoch": 0}, src)
    assert convert_weights.main(["--arch", "shg", "--src", str(src), "--dst", str(dst)]) == 0

    converted = torch.load(dst, weights_only=True)["model"]
    assert [k[len("backbone.") :] for k in converted] == list(sd)  # every key kept, in order

    cfg = _cfg(FIXTURES[name])
    model = _Wrapper(build_pose_hourglass_backbone(cfg, ShapeSpec(channels=3)))
    # the checkpoint's unused shortcut convs (README: 29 resp. 113 equal-width residuals) are
    # loaded (strict) but must not be applied, or the outputs below would differ
    unused = [
        n for n, m in model.backbone.named_modules() if isinstance(m, Residual) and not m.need_skip
    ]
    assert len(unused) == {"shg_2stack": 29, "shg_8stack": 113}[name]
    DetectionCheckpointer(model).load(str(dst))
    state = model.state_dict()
    assert set(state) == set(converted)
    assert all(torch.equal(state[k], v) for k, v in converted.items())
    model.load_state_dict(converted, strict=True)
    model.eval()

    hm = _run(model.backbone, cfg, image)
    hm_flip = _run(model.backbone, cfg, image[:, ::-1])
    stacks = torch.from_numpy(expected["heatmap_stacks"])
    np.testing.assert_allclose(hm[:, stacks].numpy(), expected["heatmaps"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(
        hm_flip[:, -1].numpy(), expected["heatmaps_flipinput_last"], rtol=0, atol=1e-4
    )
    h64 = hm[0].double()
    stats = torch.stack(
        [
            h64.mean((-2, -1)),
            h64.std((-2, -1), correction=0),
            h64.amin((-2, -1)),
            h64.amax((-2, -1)),
        ],
        -1,
    )
    np.testing.assert_allclose(stats.numpy(), expected["stack_stats"], rtol=0, atol=2e-5)

    _assert_decoding(hm[0, -1], expected, "")
    pairs = expected["flip_pairs"]
    assert pairs.tolist() == manifest["flip_pairs"]
    det = flip_average_heatmaps(hm[:, -1], hm_flip[:, -1], pairs)
    _assert_decoding(det[0], expected, "_flip")


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_decoder_on_stored_heatmaps(name):
    """The decoder alone on the official network's stored outputs (README: gives joints exactly)."""
    expected = dict(np.load(os.path.join(PARITY, name, "expected.npz")))
    hm = torch.from_numpy(expected["heatmaps"][0, -1])
    _assert_decoding(hm, expected, "")
    det = flip_average_heatmaps(
        hm[None], torch.from_numpy(expected["heatmaps_flipinput_last"]), expected["flip_pairs"]
    )
    ref = np.minimum(
        (expected["heatmaps"][0, -1] + expected["heatmaps_flipinput_last"][0][:, :, ::-1][
            expected["flip_pairs"]]) / 2,
        1,
    )  # fmt: skip
    np.testing.assert_array_equal(det[0].numpy(), ref)
    _assert_decoding(det[0], expected, "_flip")
