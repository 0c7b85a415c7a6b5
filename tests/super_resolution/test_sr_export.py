"""Super-resolution generator export (ONNX in ONNX Runtime, TorchScript): the MSRResNet of the
srresnet_x4 fixture (converted official weights) and the small RRDBNet / paper SRResNet, on
LR inputs of several sizes (dynamic height / width), give eager's pixels within 5e-3 (of
0..255); the spec names the exporter."""

import pytest
import torch

from tests.export.common import backends_match_eager
from tests.parity import fixture_image, load_gan_fixture, requires_fixtures
from vision_plugins.checkpoint import Checkpointer, convert_checkpoint
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.spec import SPECS
from vision_plugins.super_resolution.export import export_super_resolution


def _same_pixels(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert sorted(a) == sorted(b) == ["image"]
        torch.testing.assert_close(a["image"], b["image"], rtol=0, atol=5e-3)


def _inputs(*sizes):
    g = torch.Generator().manual_seed(0)
    return [[{"image": torch.randint(0, 256, (3, h, w), generator=g).float()}] for h, w in sizes]


@requires_fixtures
def test_msrresnet_export_matches_eager_on_the_fixture_weights(tmp_path):
    _, sds, ins, _ = load_gan_fixture("srresnet_x4")
    torch.save(sds["G"], tmp_path / "net_g.pth")
    convert_checkpoint("msrresnet", [f"G={tmp_path / 'net_g.pth'}"], str(tmp_path / "g.pth"))
    cfg = setup_cfg("configs/SuperResolution/msrresnet_x4_div2k.yaml", ["MODEL.DEVICE", "cpu"])
    model = Trainer.build_model(cfg)
    Checkpointer(model).load(str(tmp_path / "g.pth"))
    model.eval()
    exportable = export_super_resolution(model, cfg)
    assert exportable.meta["scale"] == 4 and exportable.meta["dynamic_size"]
    batches = [[{"image": fixture_image(ins["lq"][0])}]] + _inputs((20, 27))
    out = backends_match_eager(model, exportable, batches, tmp_path, _same_pixels)
    assert set(out) == {"onnx", "torchscript"}
    assert out["onnx"][1][0]["image"].shape == (3, 80, 108)


@pytest.mark.parametrize(
    "config, opts",
    [
        ("configs/SuperResolution/esrgan_small_vp_sr.yaml", []),
        ("configs/SuperResolution/srgan_srresnet_x4_paper.yaml", ["MODEL.GAN.NGF", 8]),
    ],
)
def test_small_generators_export(config, opts, tmp_path):
    cfg = setup_cfg(config, ["MODEL.DEVICE", "cpu", "MODEL.GAN.N_BLOCKS", 1, *opts])
    torch.manual_seed(0)
    model = Trainer.build_model(cfg).eval()
    out = backends_match_eager(
        model, export_super_resolution(model, cfg), _inputs((16, 16), (9, 13)), tmp_path,
        _same_pixels,
    )  # fmt: skip
    assert out["torchscript"][1][0]["image"].shape == (3, 36, 52)


def test_specs_name_the_exporter():
    for name in ("SuperResolution", "SRGAN", "ESRGAN"):
        assert SPECS.get(name).exporter is export_super_resolution
