"""Converter signatures: the keys of each official checkpoint suggest exactly its converter (what
``Checkpointer`` prints when an unconverted official file is given as MODEL.WEIGHTS)."""

import json
import os

import pytest
import torch
import torchvision

import vision_plugins  # noqa: F401  (registers every converter)
from tests.parity import PARITY, requires_fixtures
from vision_plugins.checkpoint import CONVERTERS, Checkpointer, WeightsMismatchError
from vision_plugins.checkpoint.checkpointer import suggest_converters

# parity fixture -> the converter of its official checkpoint
FIXTURES = {
    "centernet_oap_hg": "centernet_oap_hg",
    "centernet_oap_res18": "centernet_oap_res18",
    "centernet_oap_resdcn18": "centernet_oap_resdcn18",
    "centernet_triplet_hg104": "centernet_triplet",
    "cornernet_hg104": "cornernet",
    "retinaface_mnet": "retinaface_mnet",
    "retinaface_r50": "retinaface_r50",
    "shg_2stack": "shg",
    "shg_8stack": "shg",
    "yolact_R_50": "yolact",
    "yolact_R_101": "yolact",
    "yolact_plus_R_50": "yolact_plus",
}


def _official_keys(fixture):
    with open(os.path.join(PARITY, fixture, "manifest.json")) as f:
        keys = [t[0] for t in json.load(f)["tensors"]]
    if fixture.startswith("shg_"):  # the manifest lists the PoseNet keys; the file prefixes them
        keys = ["model.module." + k for k in keys]
    return [k[len("module.") :] if k.startswith("module.") else k for k in keys]


@requires_fixtures
@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_official_keys_suggest_their_converter(fixture):
    assert suggest_converters(_official_keys(fixture)) == [FIXTURES[fixture]]


def test_other_official_layouts_suggest_their_converter():
    tv = list(torchvision.models.resnet50(weights=None).state_dict())
    assert suggest_converters(tv) == ["torchvision_resnet"]
    lite = ["hg.pre.0.conv.weight", "hg.hgs.0.up1.0.conv1.weight", "tl_modules.0.p1_conv1.weight",
            "tl_heats.0.1.weight", "tl_offs.0.1.weight"]  # fmt: skip
    assert suggest_converters(lite) == ["cornernet_lite"]
    edge = ["backbone.layers.0.0.conv1.weight", "fpn_phase_1.lat_layers.0.weight",
            "fpn_phase_2.pred_layers.0.weight", "proto_net.0.weight",
            "prediction_layers.0.conf_layer.weight", "flow_net.conv1.0.0.weight"]  # fmt: skip
    assert suggest_converters(edge) == ["yolact_edge"]
    assert suggest_converters(["backbone.bottom_up.stem.conv1.weight", "proposal_generator."]) == []


def test_every_converter_has_a_distinct_signature():
    signatures = {name: conv.signature for name, conv in CONVERTERS.items()}
    assert all(signatures.values()), [n for n, s in signatures.items() if not s]
    assert len(set(signatures.values())) == len(signatures)


def test_official_state_dict_as_weights_names_the_command(tmp_path):
    net = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in net.state_dict().items()}}, path)
    with pytest.raises(WeightsMismatchError) as e:
        Checkpointer(torch.nn.Conv2d(3, 8, 3)).load(str(path))
    assert f"--arch torchvision_resnet --src {path} --dst" in str(e.value)
