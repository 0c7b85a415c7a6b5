"""Shared access to the parity fixtures at ../shared/parity (see its README)."""

import importlib.util
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARITY = os.path.normpath(os.path.join(REPO, "..", "shared", "parity"))

requires_fixtures = pytest.mark.skipif(
    not os.path.isdir(PARITY), reason=f"parity fixtures not found at {PARITY}"
)


def _synth():
    """The fixtures' own ``synth.py`` (never a copy: it is what defines the checkpoints)."""
    spec = importlib.util.spec_from_file_location("parity_synth", os.path.join(PARITY, "synth.py"))
    synth = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synth)
    return synth


def load_fixture(name):
    """``(manifest, official state_dict, image, expected)`` of fixture ``name``, synthesised by the
    fixtures' ``synth.py`` exactly as its manifest says: ``rng`` ("numpy": numpy PCG64 weights,
    bit-identical on every CPU; absent: torch.Generator), ``weight_gain``, ``scales``,
    ``buffers.npz`` and ``overrides``."""
    return _synth().load_fixture(os.path.join(PARITY, name))


def converted_model(tmp_path, arch, checkpoint, config):
    """Save the official ``checkpoint`` object, convert it with ``tools/convert_weights.py
    --arch arch`` (asserting success), build the model of ``config`` (a path under configs/) on
    CPU and load the converted weights. Returns ``(cfg, model in eval mode, load result)``."""
    import torch
    from detectron2.checkpoint import DetectionCheckpointer

    from vision_plugins.engine import Trainer, setup_cfg

    from .tool_scripts import load_tool

    convert_weights = load_tool("convert_weights")

    src, dst = tmp_path / "official.pth", tmp_path / "converted.pth"
    torch.save(checkpoint, src)
    assert convert_weights.main(["--arch", arch, "--src", str(src), "--dst", str(dst)]) == 0
    cfg = setup_cfg(os.path.join(REPO, "configs", config), ["MODEL.DEVICE", "cpu"])
    model = Trainer.build_model(cfg)
    loaded = DetectionCheckpointer(model).load(str(dst))
    return cfg, model.eval(), loaded


def randomize_official_yolact(net, num_classes):
    """A random official YOLACT-family network whose outputs exercise every path: BN statistics
    randomised, every conv outside the backbone re-drawn (fan-in scaled weights, biases in
    ±0.1), and classes 1-3 made confident so that detections exist."""
    import torch
    from torch import nn

    for name, m in net.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
        if isinstance(m, nn.Conv2d) and "backbone" not in name:
            nn.init.normal_(m.weight, std=(1.0 / m.weight[0].numel()) ** 0.5)
            if m.bias is not None:
                nn.init.uniform_(m.bias, -0.1, 0.1)
    with torch.no_grad():
        net.prediction_layers[0].conf_layer.bias.view(-1, num_classes + 1)[:, 1:4] += 3.0


def load_gan_fixture(name):
    """``(manifest, {net: official state_dict}, {input: uint8 (B, H, W, 3) RGB}, expected)`` of
    the GAN fixture ``gans/<name>``, rebuilt by its own ``synth_gans.py`` and checked
    bit-identical to what the official run used (``check_integrity``)."""
    path = os.path.join(PARITY, "gans", "synth_gans.py")
    spec = importlib.util.spec_from_file_location("parity_synth_gans", path)
    synth = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synth)
    manifest, state_dicts, inputs, expected = synth.load_fixture(os.path.join(PARITY, "gans", name))
    synth.check_integrity(manifest, state_dicts, inputs)
    return manifest, state_dicts, inputs, expected


def gan_fixture_tolerance(manifest, key):
    """``atol`` of ``key`` in the fixture's manifest (README_gans.md: max|ours - expected|)."""
    return manifest["tolerances"]["per_key"][key]["atol"]


def check_gan_key(manifest, expected, key, ours):
    """``max|ours - expected[key]| <= atol`` of ``key`` (``ours``: tensor, array or number)."""
    import numpy as np
    import torch

    ours = ours.detach().numpy() if isinstance(ours, torch.Tensor) else np.asarray(ours)
    err = float(np.abs(ours - expected[key]).max())
    assert err <= gan_fixture_tolerance(manifest, key), (key, err)


def fixture_image(array):
    """A fixture input (H, W, 3) uint8 RGB as the mappers give images: float (3, H, W) 0..255."""
    import numpy as np
    import torch

    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float()


def replay_dropout(net, manifest, expected, phase):
    """Make every ``nn.Dropout`` of ``net`` return ``x * mask / 0.5`` with the official masks
    of ``phase`` (README_gans.md), each mask used once, in forward order. Returns the hook
    handles (``remove()`` them) and the list of modules that used their mask."""
    import numpy as np
    import torch

    masks = {}
    for m in manifest["dropout_masks"][phase]:
        shape = tuple(m["shape"])
        bits = np.unpackbits(expected[m["key"]])[: int(np.prod(shape))].reshape(shape)
        masks[m["module"]] = torch.from_numpy(bits.astype(np.float32))
    used, handles = [], []
    modules = dict(net.named_modules())
    assert set(masks) <= set(modules), sorted(set(masks) - set(modules))
    for name, mask in masks.items():
        assert isinstance(modules[name], torch.nn.Dropout), name

        def hook(module, args, output, mask=mask, name=name):
            assert name not in used, f"{name}: dropout ran twice"
            used.append(name)
            return args[0] * mask / 0.5

        handles.append(modules[name].register_forward_hook(hook))
    return handles, used
