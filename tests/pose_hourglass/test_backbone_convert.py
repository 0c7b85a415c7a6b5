"""PoseHourglassBackbone contract and the ``shg`` converter on small official-layout checkpoints."""

import os
from collections import OrderedDict

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY

from tests.tool_scripts import load_tool
from vision_plugins.checkpoint import CONVERTERS, CheckpointFormatError, convert_checkpoint
from vision_plugins.engine import setup_cfg
from vision_plugins.pose_hourglass import PoseHourglassBackbone
from vision_plugins.pose_hourglass.backbone import Residual
from vision_plugins.pose_hourglass.convert import PREFIX

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
convert_weights = load_tool("convert_weights")


class _Wrapper(torch.nn.Module):
    """Stands for a future meta-architecture: the backbone under ``.backbone``."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone


def _official_state_dict(model, g):
    """``model``'s weights (BN statistics randomised) in the official layout: every Residual
    has a ``skip_layer`` conv, which PoseNet creates and never uses when the widths are equal."""
    sd = OrderedDict()
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.copy_(torch.randn(mod.num_features, generator=g) * 0.1)
            mod.running_var.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
            mod.bias.data.copy_(torch.randn(mod.num_features, generator=g) * 0.1)
    for k, v in model.state_dict().items():
        sd["model.module." + k] = v.clone()
    return sd


def test_config_defaults_are_the_official_mpii_recipe():
    c = setup_cfg(None).MODEL.POSE_HOURGLASS
    assert (c.NSTACK, c.INP_DIM, c.OUP_DIM, c.INCREASE) == (8, 256, 16, 0)
    assert (c.INPUT_RES, c.OUTPUT_RES, c.SIGMA) == (256, 64, 1.0)


def test_backbone_from_cfg_outputs_every_stack():
    cfg = setup_cfg(
        None, ["MODEL.POSE_HOURGLASS.NSTACK", 3, "MODEL.POSE_HOURGLASS.INP_DIM", 32,
               "MODEL.POSE_HOURGLASS.OUP_DIM", 5]
    )  # fmt: skip
    bb = BACKBONE_REGISTRY.get("build_pose_hourglass_backbone")(cfg, ShapeSpec(channels=3))
    assert isinstance(bb, PoseHourglassBackbone) and bb.size_divisibility == 64
    assert bb._out_features == ["hm0", "hm1", "hm2"]
    assert all(s.channels == 5 and s.stride == 4 for s in bb.output_shape().values())
    out = bb(torch.rand(2, 3, 128, 64))
    assert list(out) == bb._out_features
    assert all(v.shape == (2, 5, 32, 16) for v in out.values())
    # every residual has a skip_layer conv (as official); only the two that change width
    # (pre.1: 64->128, pre.4: 128->32) use it
    residuals = {n: m for n, m in bb.named_modules() if isinstance(m, Residual)}
    assert all(f"{n}.skip_layer.conv.weight" in bb.state_dict() for n in residuals)
    assert sorted(n for n, m in residuals.items() if m.need_skip) == ["pre.1", "pre.4"]


def test_backbone_rejects_inconsistent_resolutions():
    cfg = setup_cfg(None, ["MODEL.POSE_HOURGLASS.OUTPUT_RES", 128])
    with pytest.raises(ValueError, match="INPUT_RES"):
        PoseHourglassBackbone(cfg, ShapeSpec(channels=3))


@pytest.mark.parametrize("increase", [0, 8])
def test_convert_round_trip_loads_strict_and_reproduces_outputs(tmp_path, increase):
    g = torch.Generator().manual_seed(increase)
    torch.manual_seed(increase)
    model = PoseHourglassBackbone(nstack=2, inp_dim=32, oup_dim=4, increase=increase).eval()
    official = _official_state_dict(model, g)
    src, dst = tmp_path / "checkpoint.pt", tmp_path / "d2.pth"
    torch.save({"state_dict": official, "optimizer": {}, "epoch": 3}, src)
    assert convert_weights.main(["--arch", "shg", "--src", str(src), "--dst", str(dst)]) == 0

    converted = torch.load(dst, weights_only=True)["model"]
    assert [k[len(PREFIX) :] for k in converted] == [k[len("model.module.") :] for k in official]
    fresh = _Wrapper(PoseHourglassBackbone(nstack=2, inp_dim=32, oup_dim=4, increase=increase))
    DetectionCheckpointer(fresh).load(str(dst))
    state = fresh.state_dict()
    assert set(state) == set(converted)
    assert all(torch.equal(state[k], v) for k, v in converted.items())
    fresh.load_state_dict(converted, strict=True)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected, got = model(x), fresh.eval().backbone(x)
    for k in expected:
        torch.testing.assert_close(got[k], expected[k], rtol=0, atol=0)
    # the skip_layer convs of equal-width residuals are loaded but never used
    for m in fresh.backbone.modules():
        if isinstance(m, Residual) and not m.need_skip:
            m.skip_layer.conv.weight.data.add_(1.0)
    with torch.no_grad():
        again = fresh.backbone(x)
    for k in expected:
        torch.testing.assert_close(again[k], expected[k], rtol=0, atol=0)


def _small_official():
    g = torch.Generator().manual_seed(0)
    return _official_state_dict(PoseHourglassBackbone(nstack=1, inp_dim=16, oup_dim=2), g)


@pytest.mark.parametrize(
    "key,value",
    [
        ("features.0.1.bn.running_var", None),  # missing
        ("outs.0.conv.weight", None),  # missing, and the network size cannot be read
        ("heads.x", torch.zeros(1)),  # unexpected
        ("pre.1.bn1.bias", torch.zeros(3)),  # wrong shape
        ("pre.9.skip_layer.conv.bias", torch.zeros(1)),  # the shortcut of no residual
    ],
)
def test_bad_checkpoints_name_the_key(tmp_path, key, value):
    sd = _small_official()
    if value is None:
        del sd["model.module." + key]
    else:
        sd["model.module." + key] = value
    src = tmp_path / "checkpoint.pt"
    torch.save({"state_dict": sd}, src)
    with pytest.raises(CheckpointFormatError, match=key.replace(".", r"\.")):
        convert_checkpoint("shg", str(src), str(tmp_path / "o.pth"))
    assert not (tmp_path / "o.pth").exists()


def test_wrong_files_are_rejected(tmp_path, capsys):
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"not a checkpoint")
    rc = convert_weights.main(["--arch", "shg", "--src", str(bad), "--dst", str(tmp_path / "o")])
    assert rc == 2 and str(bad) in capsys.readouterr().err
    other = tmp_path / "resnet.pt"
    torch.save({"state_dict": {"conv1.weight": torch.zeros(1)}}, other)
    with pytest.raises(CheckpointFormatError, match="pre.0.conv.weight"):
        convert_checkpoint("shg", str(other), str(tmp_path / "o.pth"))
    assert "shg" in CONVERTERS and CONVERTERS["shg"].container_keys == ("state_dict",)
