"""VPSNet flow networks: ZeroFlow, Precomputed, torchvision RAFT (padding, weights, frozen)."""

import logging

import pytest
import torch
from torchvision.models.optical_flow import raft_small

from vision_plugins.engine import setup_cfg
from vision_plugins.vpsnet.flow import FLOW_NET_REGISTRY, build_flow_net

CONFIG = "configs/VPSNet/vpsnet_R_18_FPN_synth_video_fusetrack.yaml"


def _cfg(*opts):
    return setup_cfg(CONFIG, ["MODEL.WEIGHTS", "", *opts])


def test_registry_names():
    assert {"RAFTSmall", "RAFTLarge", "ZeroFlow", "Precomputed"} <= {
        k for k, _ in FLOW_NET_REGISTRY
    }


def test_zero_and_precomputed_flow():
    images = torch.rand(2, 3, 64, 96) * 255
    assert torch.equal(
        build_flow_net(_cfg("MODEL.VPSNET.FLOW.NAME", "ZeroFlow"))(images, images),
        torch.zeros(2, 2, 64, 96),
    )
    net = build_flow_net(_cfg())
    flow = torch.rand(2, 60, 90)
    out = net(images, images, [{"flow": flow}, {}])  # second input: a video's first frame
    assert torch.equal(out[0, :, :60, :90], flow) and torch.all(out[0, :, 60:] == 0)
    assert torch.all(out[1] == 0)
    with pytest.raises(ValueError, match="2×H×W"):
        net(images, images, [{"flow": torch.rand(3, 60, 90)}, {}])


def test_raft_pads_small_inputs_and_is_frozen(caplog):
    with caplog.at_level(logging.WARNING):
        net = build_flow_net(
            _cfg("MODEL.VPSNET.FLOW.NAME", "RAFTSmall", "MODEL.VPSNET.FLOW.NUM_UPDATES", "2")
        )
    assert "randomly initialised" in caplog.text
    assert not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training  # always in eval mode
    images = torch.rand(1, 3, 100, 150) * 255  # RAFT needs multiples of 8 and >= 128
    assert net(images, images.flip(3)).shape == (1, 2, 100, 150)


def test_raft_loads_a_local_state_dict(tmp_path):
    torch.manual_seed(0)
    reference = raft_small(weights=None).eval()
    path = tmp_path / "raft_small.pth"
    torch.save(reference.state_dict(), path)
    net = build_flow_net(
        _cfg(
            "MODEL.VPSNET.FLOW.NAME",
            "RAFTSmall",
            "MODEL.VPSNET.FLOW.WEIGHTS",
            str(path),
            "MODEL.VPSNET.FLOW.NUM_UPDATES",
            "2",
        )
    )
    a, b = torch.rand(1, 3, 128, 128) * 255, torch.rand(1, 3, 128, 128) * 255
    with torch.no_grad():
        expected = reference(a / 127.5 - 1, b / 127.5 - 1, num_flow_updates=2)[-1]
    assert torch.allclose(net(a, b), expected, atol=1e-5)
    with pytest.raises(ValueError, match="missing.pth"):
        build_flow_net(
            _cfg(
                "MODEL.VPSNET.FLOW.NAME",
                "RAFTSmall",
                "MODEL.VPSNET.FLOW.WEIGHTS",
                str(tmp_path / "missing.pth"),
            )
        )
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not a torchvision RAFTSmall state dict"):
        build_flow_net(
            _cfg(
                "MODEL.VPSNET.FLOW.NAME",
                "RAFTSmall",
                "MODEL.VPSNET.FLOW.WEIGHTS",
                str(tmp_path / "other.pth"),
            )
        )


def test_unknown_flow_net_is_named():
    with pytest.raises(KeyError, match="'FlowNet2'.*registered"):
        build_flow_net(_cfg("MODEL.VPSNET.FLOW.NAME", "FlowNet2"))
