"""Pix2Pix generator export (ONNX in ONNX Runtime, TorchScript) on the parity-fixture weights
(U-Net 256, eval mode): on the fixture input and on a real photo through the Predictor's test
transform, the generated pixels within 5e-3 (of 0..255) of eager's; the official test mode
(TEST_TRAIN_MODE: random dropout) is refused with the key named."""

import pytest

from tests.export.common import backends_match_eager, photo_bgr, requires_photos, same_pixels
from tests.parity import fixture_image, load_gan_fixture, requires_fixtures
from vision_plugins.checkpoint import Checkpointer
from vision_plugins.engine import Predictor, Trainer, setup_cfg
from vision_plugins.pix2pix.export import export_pix2pix

from .test_pix2pix_parity import CONFIG, converted  # noqa: F401  (fixture)

pytestmark = [requires_fixtures, requires_photos]


@pytest.fixture(scope="module")
def fixture():
    return load_gan_fixture("pix2pix_unet256")


def test_pix2pix_export_matches_eager(tmp_path, fixture, converted):  # noqa: F811
    _, _, inputs, _ = fixture
    cfg = setup_cfg(CONFIG, ["MODEL.DEVICE", "cpu", "MODEL.GAN.TEST_TRAIN_MODE", "False"])
    model = Trainer.build_model(cfg)
    Checkpointer(model).load(str(converted))
    model.eval()
    photo = Predictor(cfg, model=model).preprocess(photo_bgr())
    assert photo["image"].shape == (3, 256, 256)
    batches = [[{"image": fixture_image(inputs["A"][0])}], [photo]]
    out = backends_match_eager(model, export_pix2pix(model, cfg), batches, tmp_path, same_pixels)
    assert set(out) == {"onnx", "torchscript"}


def test_pix2pix_export_refuses_the_train_mode_test():
    cfg = setup_cfg(CONFIG, ["MODEL.DEVICE", "cpu"])
    assert cfg.MODEL.GAN.TEST_TRAIN_MODE  # the official default
    model = Trainer.build_model(cfg).eval()
    with pytest.raises(ValueError, match="MODEL.GAN.TEST_TRAIN_MODE.*Dropout"):
        export_pix2pix(model, cfg)
