"""CycleGAN generator export (ONNX in ONNX Runtime, TorchScript) on the parity-fixture weights
(ResNet-9 generators, the official test mode: instance norm, no dropout, so train and eval mode
agree): both directions on the fixture inputs (128²) and on a real photo at 100x164 (dynamic
H / W), pixels within 5e-3 (of 0..255) of eager's."""

import cv2
import pytest
import torch

from tests.export.common import backends_match_eager, photo_bgr, requires_photos, same_pixels
from tests.parity import fixture_image, load_gan_fixture, requires_fixtures
from vision_plugins.checkpoint import Checkpointer
from vision_plugins.cyclegan.export import export_cyclegan
from vision_plugins.engine import Trainer, setup_cfg

from .test_cyclegan_parity import CONFIG, converted, official_dir  # noqa: F401  (fixtures)

pytestmark = [requires_fixtures, requires_photos]


@pytest.fixture(scope="module")
def fixture():
    return load_gan_fixture("cyclegan_resnet9")


def test_cyclegan_export_matches_eager(tmp_path, fixture, converted):  # noqa: F811
    _, _, inputs, _ = fixture
    cfg = setup_cfg(CONFIG, ["MODEL.DEVICE", "cpu"])
    model = Trainer.build_model(cfg)
    Checkpointer(model).load(str(converted))
    model.eval()
    assert model.test_train_mode
    rgb = photo_bgr()[:, :, ::-1]
    small = torch.from_numpy(cv2.resize(rgb, (164, 100)).transpose(2, 0, 1).copy()).float()
    batches = [
        [{"image": fixture_image(inputs["A"][0]), "image_B": fixture_image(inputs["B"][0])}],
        [{"image": small, "image_B": small.flip(-2)}],
    ]
    exportable = export_cyclegan(model, cfg)
    assert [g.name for g in exportable.graphs] == ["netG_A", "netG_B"]
    out = backends_match_eager(model, exportable, batches, tmp_path, same_pixels)
    assert set(out) == {"onnx", "torchscript"}
    assert out["onnx"][1][0]["image_B2A"].shape == (3, 100, 164)
