"""Super-resolution metrics: PSNR / SSIM on Y (BT.601) and RGB against hand-computed values, the
border crop, BasicSR's rounding, the bicubic baseline, and the evaluator through
``build_evaluator``."""

import math

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from scipy import signal

from vision_plugins.config import add_vision_plugins_config
from vision_plugins.data.super_resolution import SRMapper, bicubic_downsample, imresize
from vision_plugins.evaluation import build_evaluator
from vision_plugins.evaluation.super_resolution import (
    SREvaluator,
    add_sr_eval_config,
    bicubic_upsample,
    crop_border,
    quantize,
    rgb_to_y,
    sr_metrics,
)

C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def _rgb(r, g, b, h=1, w=1):
    return torch.tensor([r, g, b], dtype=torch.float64)[:, None, None].expand(3, h, w).clone()


def test_rgb_to_y_bt601():
    # Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255: black 16, white 235
    assert float(rgb_to_y(_rgb(0, 0, 0))) == 16.0
    assert float(rgb_to_y(_rgb(255, 255, 255))) == pytest.approx(235.0, abs=1e-12)
    assert float(rgb_to_y(_rgb(255, 0, 0))) == pytest.approx(81.481, abs=1e-12)
    assert float(rgb_to_y(_rgb(0, 255, 0))) == pytest.approx(144.553, abs=1e-12)
    assert float(rgb_to_y(_rgb(0, 0, 255))) == pytest.approx(40.966, abs=1e-12)
    assert float(rgb_to_y(_rgb(10, 20, 30))) == pytest.approx(
        16 + (654.81 + 2571.06 + 748.98) / 255, abs=1e-12
    )
    with pytest.raises(ValueError, match="expected a"):
        rgb_to_y(torch.zeros(1, 4, 4))


def test_psnr_y_by_hand_and_border():
    """16x16 black target; the output has one red pixel (255, 0, 0) inside the 12x12 centre and
    one white pixel on the 2-pixel border ring."""
    target = torch.zeros(3, 16, 16, dtype=torch.float64)
    out = target.clone()
    out[0, 5, 6] = 255  # inside: Y differs by 65.481, RGB by 255 in one channel
    out[:, 0, 15] = 255  # border: Y differs by 219, RGB by 255 in three channels
    m = sr_metrics(out, target, 2)  # 144 pixels left, the border pixel cropped away
    assert m["PSNR_Y"] == pytest.approx(10 * math.log10(255**2 * 144 / 65.481**2), abs=1e-9)
    assert m["PSNR_Y"] == pytest.approx(33.39212, abs=1e-5)
    assert m["PSNR"] == pytest.approx(10 * math.log10(3 * 144), abs=1e-9)  # 255² / (255² / 432)
    m0 = sr_metrics(out, target, 0)  # 256 pixels, both differences
    mse_y = (65.481**2 + 219.0**2) / 256
    assert m0["PSNR_Y"] == pytest.approx(10 * math.log10(255**2 / mse_y), abs=1e-9)
    assert m0["PSNR"] == pytest.approx(10 * math.log10(255**2 / (4 * 255**2 / 768)), abs=1e-9)
    assert sr_metrics(target, target, 2)["PSNR_Y"] == float("inf")
    # under 11 x 11 pixels left: PSNR by the same formula, SSIM NaN (no valid window)
    small = sr_metrics(out, target, 4)
    assert small["PSNR_Y"] == pytest.approx(10 * math.log10(255**2 * 64 / 65.481**2), abs=1e-9)
    assert math.isnan(small["SSIM_Y"]) and math.isnan(small["SSIM"])
    with pytest.raises(ValueError, match="nothing left"):
        sr_metrics(out, target, 8)


def test_ssim_y_constant_images_by_hand():
    """Constant images: both variances are 0, SSIM = (2 μx μy + C1) / (μx² + μy² + C1)."""
    black, white = _rgb(0, 0, 0, 16, 16), _rgb(255, 255, 255, 16, 16)
    m = sr_metrics(white, black, 0)
    assert m["SSIM_Y"] == pytest.approx((2 * 16 * 235 + C1) / (16**2 + 235**2 + C1), abs=1e-12)
    assert m["SSIM_Y"] == pytest.approx(0.1356432, abs=1e-7)
    assert m["SSIM"] == pytest.approx(C1 / (255**2 + C1), abs=1e-12)  # RGB: 0 vs 255


def _ssim_reference(x, y):
    """Wang et al.'s SSIM of two 2-D float64 images: 11x11 Gaussian window (sigma 1.5), valid
    region (scipy correlation; independent of the evaluator's code)."""
    g = signal.windows.gaussian(11, 1.5)
    win = np.outer(g, g) / np.outer(g, g).sum()

    def f(a):
        return signal.correlate2d(a, win, mode="valid")

    mx, my = f(x), f(y)
    sxx, syy, sxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
    num = (2 * mx * my + C1) * (2 * sxy + C2)
    return float((num / ((mx**2 + my**2 + C1) * (sxx + syy + C2))).mean())


def test_ssim_against_reference():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 256, (3, 40, 36), generator=g).double()
    out = (target + torch.randn(3, 40, 36, generator=g) * 20).clamp(0, 255).round()
    m = sr_metrics(out, target, 3)
    y_out, y_t = (crop_border(rgb_to_y(t), 3)[0].numpy() for t in (out, target))
    assert m["SSIM_Y"] == pytest.approx(_ssim_reference(y_out, y_t), abs=1e-10)
    rgb = np.mean([_ssim_reference(out[c, 3:-3, 3:-3].numpy(), target[c, 3:-3, 3:-3].numpy())
                   for c in range(3)])  # fmt: skip
    assert m["SSIM"] == pytest.approx(rgb, abs=1e-10)


def test_ssim_against_skimage():
    metrics = pytest.importorskip("skimage.metrics")
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 256, (3, 40, 36), generator=g).double()
    out = (target + torch.randn(3, 40, 36, generator=g) * 20).clamp(0, 255).round()
    m = sr_metrics(out, target, 3)
    y_out, y_t = (crop_border(rgb_to_y(t), 3)[0].numpy() for t in (out, target))
    ref = metrics.structural_similarity(y_out, y_t, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, data_range=255)  # fmt: skip
    assert m["SSIM_Y"] == pytest.approx(ref, abs=1e-6)


def test_quantize_like_tensor2img():
    x = torch.tensor([-3.0, 0.4, 0.5, 1.5, 2.5, 254.6, 300.0])
    assert quantize(x).tolist() == [0, 0, 0, 2, 2, 255, 255]  # round half to even, clamped


def test_bicubic_upsample_is_matlab_imresize():
    lr = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    up = bicubic_upsample(torch.as_tensor(lr.transpose(2, 0, 1)).float(), 3)
    assert tuple(up.shape) == (3, 18, 21)
    np.testing.assert_array_equal(up.numpy().transpose(1, 2, 0), imresize(lr, scale=3))


def _cfg(**sr):
    cfg = get_cfg()
    add_vision_plugins_config(cfg)
    cfg.INPUT.FORMAT = "RGB"
    cfg.MODEL.DEVICE = "cpu"
    for k, v in sr.items():
        cfg.TEST.SR[k] = v
    return cfg


def _inputs(n=3, size=48, scale=4):
    rng = np.random.default_rng(5)
    out = []
    for i in range(n):
        hr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        hr = np.clip(imresize(imresize(hr, scale=0.25), scale=4), 0, 255).astype(np.uint8)
        lr = bicubic_downsample(hr, scale)
        out.append({"image_id": i, "image": torch.as_tensor(lr.transpose(2, 0, 1)).float(),
                    "target": torch.as_tensor(hr.transpose(2, 0, 1)).float(),
                    "sr_scale": scale})  # fmt: skip
    return out


def test_sr_eval_config():
    cfg = _cfg()
    assert (cfg.TEST.SR.CROP_BORDER, cfg.TEST.SR.QUANTIZE) == (-1, True)
    assert cfg.TEST.SR.BICUBIC_BASELINE and cfg.TEST.SR.FID_KID
    cfg.TEST.SR.CROP_BORDER = 2
    add_sr_eval_config(cfg)
    assert cfg.TEST.SR.CROP_BORDER == 2


def test_evaluator_through_build_evaluator():
    ev = build_evaluator(_cfg(FID_KID=False), "vp_sr_val")
    assert isinstance(ev, SREvaluator)
    inputs = _inputs()
    ev.reset()
    for inp in inputs:  # the output is the bicubic upsampling itself: both rows agree
        ev.process([inp], [{"image": bicubic_upsample(inp["image"], 4).float()}])
    res = ev.evaluate()["super_resolution"]
    for k in ("PSNR_Y", "SSIM_Y", "PSNR", "SSIM", "sharpness"):
        assert res[k] == pytest.approx(res[f"{k}_bicubic"], abs=1e-12)
    expected = np.mean([sr_metrics(bicubic_upsample(i["image"], 4), i["target"], 4)["PSNR_Y"]
                        for i in inputs])  # fmt: skip
    assert res["PSNR_Y"] == pytest.approx(expected, abs=1e-12)
    assert res["num_images"] == 3 and not any(k.startswith("FID") for k in res)
    ev.reset()
    for inp in inputs:  # exact outputs
        ev.process([inp], [{"image": inp["target"] + 0.3}])  # rounded away
    res = ev.evaluate()["super_resolution"]
    assert res["PSNR_Y"] == res["PSNR"] == float("inf")
    assert res["SSIM_Y"] == pytest.approx(1.0) and res["sharpness"] == pytest.approx(1.0)
    assert 30 < res["PSNR_Y_bicubic"] < 60  # finite: bicubic is not exact


def test_evaluator_border_quantize_and_format():
    inputs = _inputs(n=2)
    outs = [{"image": inp["target"] + 0.75} for inp in inputs]  # +1 after rounding
    for border, expected in ((-1, 4), (0, 0), (7, 7)):
        ev = SREvaluator("x", crop_border=border, bicubic_baseline=False, distributed=False)
        ev.process(inputs, outs)
        res = ev.evaluate()["super_resolution"]
        # every Y value off by (65.481 + 128.553 + 24.966) / 255 = 219 / 255, every RGB by 1
        assert res["PSNR_Y"] == pytest.approx(20 * math.log10(255 / (219 / 255)), abs=1e-9)
        assert res["PSNR"] == pytest.approx(20 * math.log10(255), abs=1e-9)
        m = sr_metrics(quantize(outs[0]["image"]), inputs[0]["target"], expected)
        m1 = sr_metrics(quantize(outs[1]["image"]), inputs[1]["target"], expected)
        assert res["SSIM_Y"] == pytest.approx((m["SSIM_Y"] + m1["SSIM_Y"]) / 2, abs=1e-12)
    raw = SREvaluator("x", quantize=False, bicubic_baseline=False, distributed=False)
    raw.process(inputs, outs)
    assert raw.evaluate()["super_resolution"]["PSNR"] == pytest.approx(
        20 * math.log10(255 / 0.75), abs=1e-9
    )
    # BGR tensors are flipped to RGB before the Y channel
    bgr = SREvaluator("x", input_format="BGR", bicubic_baseline=False, distributed=False)
    red = {"image_id": 0, "target": _rgb(0, 0, 0, 16, 16), "sr_scale": 2}
    bgr.process([red], [{"image": _rgb(0, 0, 255, 16, 16)}])  # BGR (0, 0, 255) = red
    assert bgr.evaluate()["super_resolution"]["PSNR_Y"] == pytest.approx(
        20 * math.log10(255 / 65.481), abs=1e-9
    )
    with pytest.raises(ValueError, match="differ in shape"):
        bgr.process([red], [{"image": _rgb(0, 0, 0, 8, 8)}])


def test_evaluator_fid_kid_seeded():
    ev = build_evaluator(_cfg(BICUBIC_BASELINE=False), "vp_sr_val")
    inputs = _inputs(n=4, size=32)
    ev.reset()
    for inp in inputs:
        ev.process([inp], [{"image": bicubic_upsample(inp["image"], 4).float()}])
    res = ev.evaluate()["super_resolution"]
    assert {"FID_seeded", "KID_seeded_mean", "KID_seeded_std"} <= set(res)
    assert res["FID_seeded"] > 0 and math.isfinite(res["KID_seeded_mean"])


def test_evaluator_with_mapper_outputs(tmp_path):
    """The mapper's dicts carry what the evaluator needs (sr_scale, image, target)."""
    import cv2

    hr = np.random.default_rng(2).integers(0, 256, (40, 44, 3), dtype=np.uint8)
    path = str(tmp_path / "hr.png")
    cv2.imwrite(path, hr[:, :, ::-1].copy())
    d = SRMapper(is_train=False, scale=2)(
        {"file_name": path, "image_id": 0, "dataset_layout": "sr_hr"}
    )
    ev = SREvaluator("x", distributed=False)
    ev.process([d], [{"image": d["target"]}])
    res = ev.evaluate()["super_resolution"]
    assert res["PSNR_Y"] == float("inf") and res["PSNR_Y_bicubic"] < 40
