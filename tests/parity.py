"""Shared access to the parity fixtures at ../shared/parity (see its README)."""

import importlib.util
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARITY = os.path.normpath(os.path.join(REPO, "..", "shared", "parity"))

requires_fixtures = pytest.mark.skipif(
    not os.path.isdir(PARITY), reason=f"parity fixtures not found at {PARITY}"
)


def load_fixture(name):
    """``(manifest, official state_dict, image, expected)`` of fixture ``name``."""
    spec = importlib.util.spec_from_file_location("parity_synth", os.path.join(PARITY, "synth.py"))
    synth = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synth)
    return synth.load_fixture(os.path.join(PARITY, name))


def converted_model(tmp_path, arch, checkpoint, config):
    """Save the official ``checkpoint`` object, convert it with ``tools/convert_weights.py
    --arch arch`` (asserting success), build the model of ``config`` (a path under configs/) on
    CPU and load the converted weights. Returns ``(cfg, model in eval mode, load result)``."""
    import sys

    import torch
    from detectron2.checkpoint import DetectionCheckpointer

    from vision_plugins.engine import Trainer, setup_cfg

    sys.path.insert(0, os.path.join(REPO, "tools"))
    import convert_weights

    src, dst = tmp_path / "official.pth", tmp_path / "converted.pth"
    torch.save(checkpoint, src)
    assert convert_weights.main(["--arch", arch, "--src", str(src), "--dst", str(dst)]) == 0
    cfg = setup_cfg(os.path.join(REPO, "configs", config), ["MODEL.DEVICE", "cpu"])
    model = Trainer.build_model(cfg)
    loaded = DetectionCheckpointer(model).load(str(dst))
    return cfg, model.eval(), loaded
