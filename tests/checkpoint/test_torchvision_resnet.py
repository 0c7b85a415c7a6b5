"""torchvision ResNet -> detectron2 ResNet converter: exact names and identical features."""

import os

import pytest
import torch
import torchvision
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_model
from detectron2.modeling.backbone import build_resnet_backbone

from tests.tool_scripts import load_tool
from vision_plugins.checkpoint import CheckpointFormatError, convert_checkpoint
from vision_plugins.checkpoint.torchvision_resnet import PREFIX
from vision_plugins.engine import setup_cfg

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
convert_weights = load_tool("convert_weights")


def _tv_features(net, x):
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    return net.layer4(net.layer3(net.layer2(net.layer1(x))))


def _randomize_bn(net):
    g = torch.Generator().manual_seed(0)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@pytest.mark.parametrize("depth", [18, 50])
def test_converted_backbone_matches_torchvision(tmp_path, depth):
    torch.manual_seed(0)
    net = getattr(torchvision.models, f"resnet{depth}")(weights=None).eval()
    _randomize_bn(net)
    src, dst = tmp_path / "tv.pth", tmp_path / "d2.pth"
    torch.save(net.state_dict(), src)
    assert (
        convert_weights.main(["--arch", "torchvision_resnet", "--src", str(src), "--dst", str(dst)])
        == 0
    )

    cfg = setup_cfg(
        None,
        [
            "MODEL.RESNETS.DEPTH", depth,
            "MODEL.RESNETS.RES2_OUT_CHANNELS", 64 if depth == 18 else 256,
            "MODEL.RESNETS.STRIDE_IN_1X1", False,
            "MODEL.RESNETS.NORM", "BN",
            "MODEL.RESNETS.OUT_FEATURES", ["res5"],
            "MODEL.BACKBONE.FREEZE_AT", 0,
        ],
    )  # fmt: skip
    backbone = build_resnet_backbone(cfg, ShapeSpec(channels=3)).eval()
    converted = torch.load(dst, weights_only=True)["model"]
    ours = {PREFIX + k: v for k, v in backbone.state_dict().items() if "num_batches" not in k}
    assert set(converted) == set(ours), "missing/unexpected keys"
    backbone.load_state_dict({k[len(PREFIX) :]: v for k, v in converted.items()}, strict=False)
    x = torch.randn(2, 3, 96, 64)
    with torch.no_grad():
        expected = _tv_features(net, x)
        got = backbone(x)["res5"]
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_loads_into_mask_rcnn_with_detection_checkpointer(tmp_path):
    net = torchvision.models.resnet18(weights=None)
    src, dst = tmp_path / "tv.pth", tmp_path / "d2.pth"
    torch.save({"state_dict": net.state_dict()}, src)  # a wrapped checkpoint is unwrapped
    convert_checkpoint("torchvision_resnet", str(src), str(dst))
    cfg = setup_cfg(
        "configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml", ["MODEL.RESNETS.NORM", "FrozenBN"]
    )
    model = build_model(cfg)
    DetectionCheckpointer(model).load(str(dst))
    state = model.state_dict()
    for k, v in torch.load(dst, weights_only=True)["model"].items():
        assert k in state and torch.equal(state[k], v), k
    # the converted file covers the whole ResNet trunk: nothing of it is left at random init
    trunk = [k for k in state if k.startswith(PREFIX) and "num_batches" not in k]
    assert len(trunk) == len(torch.load(dst, weights_only=True)["model"])


def test_bad_inputs_name_file_and_key(tmp_path, capsys):
    bad = tmp_path / "garbage.pth"
    bad.write_bytes(b"not a checkpoint")
    rc = convert_weights.main(
        ["--arch", "torchvision_resnet", "--src", str(bad), "--dst", str(tmp_path / "o.pth")]
    )
    assert rc == 2 and str(bad) in capsys.readouterr().err
    missing = tmp_path / "missing.pth"
    rc = convert_weights.main(
        ["--arch", "torchvision_resnet", "--src", str(missing), "--dst", str(tmp_path / "o.pth")]
    )
    assert rc == 2 and str(missing) in capsys.readouterr().err
    wrong = tmp_path / "wrong.pth"
    torch.save(
        {
            "conv1.weight": torch.zeros(1),
            "layer1.0.conv1.weight": torch.zeros(1),
            "head.x": torch.zeros(1),
        },
        wrong,
    )
    with pytest.raises(CheckpointFormatError, match="head.x"):
        convert_checkpoint("torchvision_resnet", str(wrong), str(tmp_path / "o.pth"))
    assert not (tmp_path / "o.pth").exists()


def test_help_lists_every_converter(capsys):
    with pytest.raises(SystemExit):
        convert_weights.main(["--help"])
    assert "torchvision_resnet" in capsys.readouterr().out
