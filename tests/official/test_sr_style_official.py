"""Optional: the super-resolution and fast-style benchmark runners (``tools/benchmark.py
--official``) against the official code, with our weights -- the official output equals
``Predictor``'s.

Each test is skipped unless its variable names a checkout (the code is imported from there,
never copied: ``tests/official/esrgan.py``, ``basicsr_sr.py``, ``fast_neural_style.py``):

- ``VP_OFFICIAL_ESRGAN``: xinntao/ESRGAN (``RRDBNet_arch.py``; ESRGAN / RRDBNet),
- ``VP_OFFICIAL_BASICSR``: XPixelGroup/BasicSR (``MSRResNet``, ``RRDBNet``),
- ``VP_OFFICIAL_PYTORCH_EXAMPLES``: pytorch/examples (``fast_neural_style``).

Small random networks (seeded) on a seeded random LR / content image. Measured: every output
pixel equal (max |ours - official| = 0 after both round to uint8; the float outputs agree to
float32 rounding, ~1e-6 of the 0..1 range), so the bound is one grey level: the uint8 rounding
of values within float rounding of a .5 boundary may flip."""

import os

import cv2
import numpy as np
import pytest
import torch

from tests.official import basicsr_sr, esrgan, fast_neural_style
from vision_plugins.engine import Predictor, setup_cfg

ESRGAN = os.environ.get("VP_OFFICIAL_ESRGAN")
BASICSR = os.environ.get("VP_OFFICIAL_BASICSR")
EXAMPLES = os.environ.get("VP_OFFICIAL_PYTORCH_EXAMPLES")

RRDB_SMALL = "configs/SuperResolution/rrdbnet_small_psnr_vp_sr.yaml"
MSR_SMALL = "configs/SuperResolution/msrresnet_small_mse_vp_sr.yaml"
STYLE = "configs/FastNeuralStyle/fast_neural_style_synth.yaml"


def _image(h=20, w=16):
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _ours_and_official(runner, path, config, opts, image):
    torch.manual_seed(0)
    cfg = setup_cfg(config, ["MODEL.DEVICE", "cpu", *opts])
    predictor = Predictor(cfg)
    ours = predictor(image)["image"].numpy().transpose(1, 2, 0)
    with runner(path, cfg, predictor.model, image) as run:
        official = run()
    return cfg, ours, official


def _assert_sr_equal(cfg, ours, official, image):
    s = cfg.INPUT.SR.SCALE
    assert official.shape == (s * image.shape[0], s * image.shape[1], 3)
    assert official.dtype == np.uint8
    ours_bgr = np.round(ours[:, :, ::-1]).astype(np.int64)  # BasicSR / test.py: RGB -> BGR, round
    assert np.abs(ours_bgr - official).max() <= 1
    assert np.mean(ours_bgr != official) < 1e-3


@pytest.mark.skipif(not ESRGAN, reason="set VP_OFFICIAL_ESRGAN to a xinntao/ESRGAN checkout")
@pytest.mark.parametrize("meta_arch", ["ESRGAN", "SuperResolution"])
def test_xinntao_rrdbnet_equals_ours(meta_arch):
    image = _image()
    cfg, ours, official = _ours_and_official(
        esrgan.runner, ESRGAN, RRDB_SMALL, ["MODEL.META_ARCHITECTURE", meta_arch], image
    )
    _assert_sr_equal(cfg, ours, official, image)


@pytest.mark.skipif(
    not BASICSR, reason="set VP_OFFICIAL_BASICSR to an XPixelGroup/BasicSR checkout"
)
@pytest.mark.parametrize("config", [MSR_SMALL, RRDB_SMALL])
def test_basicsr_generators_equal_ours(config):
    image = _image()
    cfg, ours, official = _ours_and_official(basicsr_sr.runner, BASICSR, config, [], image)
    _assert_sr_equal(cfg, ours, official, image)


@pytest.mark.skipif(
    not BASICSR, reason="set VP_OFFICIAL_BASICSR to an XPixelGroup/BasicSR checkout"
)
def test_basicsr_runner_refuses_the_paper_srresnet():
    cfg = setup_cfg("configs/SuperResolution/srgan_srresnet_x4_paper.yaml", ["MODEL.DEVICE", "cpu"])
    model = Predictor(cfg).model
    with pytest.raises(ValueError, match="GENERATOR='SRResNet' has no BasicSR counterpart"):
        with basicsr_sr.runner(BASICSR, cfg, model, _image()):
            pass


@pytest.mark.skipif(not ESRGAN, reason="set VP_OFFICIAL_ESRGAN to a xinntao/ESRGAN checkout")
def test_xinntao_runner_refuses_msrresnet():
    cfg = setup_cfg(MSR_SMALL, ["MODEL.DEVICE", "cpu"])
    with pytest.raises(ValueError, match="RRDBNet_arch.py has RRDBNet only"):
        with esrgan.runner(ESRGAN, cfg, Predictor(cfg).model, _image()):
            pass


@pytest.mark.skipif(
    not EXAMPLES, reason="set VP_OFFICIAL_PYTORCH_EXAMPLES to a pytorch/examples checkout"
)
def test_fast_neural_style_transformer_net_equals_ours(tmp_path):
    style = str(tmp_path / "style.png")  # the config needs one; inference does not read it
    cv2.imwrite(style, _image(32, 32))
    image = _image(36, 28)
    opts = ["MODEL.GAN.NGF", "32", "MODEL.GAN.N_BLOCKS", "5", "INPUT.STYLE.STYLE_IMAGE", style]
    _, ours, official = _ours_and_official(fast_neural_style.runner, EXAMPLES, STYLE, opts, image)
    assert official.shape == image.shape and official.dtype == np.uint8
    # save_image: clamp(0, 255) then astype("uint8") (truncation); ours is clamped already
    ours_u8 = ours.astype(np.uint8).astype(np.int64)
    assert np.abs(ours_u8 - official).max() <= 1
    assert np.mean(ours_u8 != official) < 1e-3
