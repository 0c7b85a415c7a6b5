"""Super-resolution data: MATLAB-compatible bicubic imresize (against MATLAB's published outputs
and hand-computed weights), INPUT.SR, HR-folder / paired / builtin / synthetic datasets, and
SRMapper's aligned crops and augmentation."""

import os
import random

import cv2
import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog

from vision_plugins.config import add_vision_plugins_config
from vision_plugins.data.super_resolution import (
    SR_SIZE,
    SRMapper,
    add_sr_input_config,
    bicubic_downsample,
    build_sr_test_augmentation,
    cubic,
    imresize,
    load_sr_paired,
    mod_crop,
    register_builtin_sr,
    register_sr_hr_folder,
    register_sr_paired,
    render_sr_image,
    resize_weights,
    sr_lr_image,
)
from vision_plugins.data.synthetic import ensure_generated, register_all_synthetic
from vision_plugins.data.synthetic.common import image_rng

# ---------------------------------------------------------------------------------------------
# imresize

# MATLAB R20xx ``imresize(X, [h w], 'bicubic', 'antialiasing', aa)`` outputs published with
# bicubic_pytorch (test_answer/*.mat, made by its gen_test.m); inputs: ``small`` = 0..15 as a
# 4x4 (row-major), ``square`` = 0..63 as 8x8, ``x15`` = 0..224 as 15x15, ``topleft`` = zeros
# with [0,0]=100, [1,0]=10, [0,1]=1, [0,3]=100.
MATLAB = {
    ("small", (3, 3), False): [
        [0.5439814814814781, 1.9351851851851825, 3.3263888888888866],
        [6.108796296296295, 7.5, 8.891203703703704],
        [11.67361111111111, 13.064814814814817, 14.456018518518519],
    ],
    ("small", (3, 3), True): [
        [0.7505518763796901, 2.1004415011037523, 3.4503311258278133],
        [6.150110375275939, 7.500000000000001, 8.849889624724064],
        [11.549668874172186, 12.89955849889625, 14.24944812362031],
    ],
    ("square", (3, 4), True): [
        [6.472528773310022, 8.511591273310021, 10.535028773310023, 12.57409127331002],
        [28.44921875, 30.48828125, 32.51171875, 34.55078125],
        [50.42590872668998, 52.46497122668998, 54.48840872668998, 56.52747122668998],
    ],
    ("square", (5, 7), True): [
        [2.184525125376686, 3.3191373855569823, 4.468841371477804, 5.620459770114943,
         6.7720781687520795, 7.921782154672905, 9.0563944148532],
        [15.219771569951028, 16.354383830131326, 17.504087816052145, 18.655706214689285,
         19.807324613326422, 20.95702859924725, 22.09164085942754],
        [28.064065355261743, 29.198677615442048, 30.34838160136286, 31.500000000000004,
         32.65161839863713, 33.80132238455796, 34.93593464473825],
        [40.90835914057251, 42.0429714007528, 43.19267538667361, 44.344293785310754,
         45.495912183947894, 46.64561616986872, 47.780228430049014],
        [53.943605585146805, 55.0782178453271, 56.22792183124791, 57.37954022988507,
         58.531158628522206, 59.68086261444302, 60.81547487462331],
    ],  # fmt: skip
    ("square", (4, 4), True): [
        [4.04296875, 6.08203125, 8.10546875, 10.14453125],
        [20.35546875, 22.39453125, 24.41796875, 26.45703125],
        [36.54296875, 38.58203125, 40.60546875, 42.64453125],
        [52.85546875, 54.89453125, 56.91796875, 58.95703125],
    ],
    ("square", (2, 2), True): [[12.3837890625, 16.6318359375], [46.3681640625, 50.6162109375]],
    ("x15", (5, 5), True): [
        [14.41975308641976, 17.506172839506178, 20.518518518518526, 23.530864197530867,
         26.61728395061729],
        [60.71604938271606, 63.80246913580248, 66.81481481481481, 69.82716049382715,
         72.91358024691357],
        [105.90123456790124, 108.98765432098764, 112.0, 115.01234567901233, 118.09876543209876],
        [151.08641975308643, 154.1728395061728, 157.1851851851852, 160.19753086419752,
         163.28395061728395],
        [197.38271604938274, 200.4691358024691, 203.48148148148147, 206.49382716049382,
         209.58024691358023],
    ],  # fmt: skip
    ("x15", (3, 3), True): [
        [29.10720000000004, 34.28800000000005, 39.468800000000044],
        [106.81919999999998, 112.00000000000001, 117.18079999999996],
        [184.53119999999998, 189.71199999999996, 194.8927999999999],
    ],
    ("topleft", (5, 5), False): [
        [108.68522499999966, 27.697097499999902, -12.446562499999981, 26.884192500000054,
         109.20249999999992],
        [35.4713649999999, 8.970788999999971, -3.589562499999994, 6.637437000000011,
         26.96099999999997],
        [-0.6503124999999991, -0.2122187499999997, 0.39453125, -1.6079062500000063,
         -6.531250000000005],
        [-0.7680749999999994, -0.18962999999999977, 0.04593750000000004, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0],
    ],  # fmt: skip
}


def _input(name):
    if name == "small":
        return np.arange(16, dtype=np.float64).reshape(4, 4)
    if name == "square":
        return np.arange(64, dtype=np.float64).reshape(8, 8)
    if name == "x15":
        return np.arange(225, dtype=np.float64).reshape(15, 15)
    x = np.zeros((4, 4))
    x[0, 0], x[1, 0], x[0, 1], x[0, 3] = 100, 10, 1, 100
    return x


@pytest.mark.parametrize("case", sorted(MATLAB, key=str), ids=str)
def test_imresize_matches_matlab(case):
    name, size, aa = case
    out = imresize(_input(name), output_shape=size, antialiasing=aa)
    assert out.dtype == np.float64 and out.shape == size
    np.testing.assert_allclose(out, MATLAB[case], rtol=0, atol=1e-12)


def test_topleft_mirrors_bottomright():
    """MATLAB's bottom-right case is the top-left one rotated by 180 degrees (symmetric
    boundary on both sides)."""
    x = _input("topleft")
    np.testing.assert_allclose(
        imresize(x[::-1, ::-1], output_shape=(5, 5), antialiasing=False)[::-1, ::-1],
        MATLAB[("topleft", (5, 5), False)],
        atol=1e-12,
    )


def test_cubic_kernel_values():
    # Keys a = -0.5: k(0) = 1, k(±1) = k(±2) = 0, k(0.5) = 0.5625, k(1.5) = -0.0625
    np.testing.assert_allclose(
        cubic([0, 0.5, -0.5, 1, 1.5, -1.5, 2, 2.5]), [1, 0.5625, 0.5625, 0, -0.0625, -0.0625, 0, 0]
    )


def test_resize_weights_by_hand():
    """x2 downscale of 8 pixels, antialiased: output 1 samples u = 1.5 with h(d) = cubic(d/2)/2,
    taps j = -3..6; cubic(0.25) = 0.8671875, cubic(0.75) = 0.2265625, cubic(1.25) = -0.0703125,
    cubic(1.75) = -0.0234375 (sum of the 8 non-zero taps 2, so weights = cubic / 2); taps 0, -1,
    -2 mirror to pixels 1, 2, 3."""
    w = resize_weights(8, 4, 0.5)
    k = {0.25: 0.8671875, 0.75: 0.2265625, 1.25: -0.0703125, 1.75: -0.0234375}
    expected = np.zeros(8)
    expected[0] = (k[0.75] + k[0.25]) / 2  # taps 0 (mirror of 1) and 1
    expected[1] = (k[1.25] + k[0.25]) / 2  # taps -1 and 2
    expected[2] = (k[1.75] + k[0.75]) / 2  # taps -2 and 3
    expected[3], expected[4] = k[1.25] / 2, k[1.75] / 2
    np.testing.assert_allclose(w[0], expected, atol=1e-15)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-15)
    # rows 0..7 ramp: 0.44921875 per unit step; MATLAB's x2 output [0, 0] is 9 times that
    assert w[0] @ np.arange(8) == pytest.approx(0.44921875, abs=1e-15)
    assert 9 * 0.44921875 == MATLAB[("square", (4, 4), True)][0][0]


@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
@pytest.mark.parametrize("shape", [(24, 24), (7, 9), (96, 40)])
def test_constant_stays_constant(dtype, shape):
    x = np.full(shape + (3,), 137, dtype)
    for kwargs in ({"scale": 0.25}, {"scale": 4}, {"output_shape": (5, 11)}):
        out = imresize(x, **kwargs)
        assert out.dtype == (np.uint8 if dtype == np.uint8 else np.float64)
        np.testing.assert_allclose(out, 137, atol=1e-10)


def test_output_size_rules():
    x = np.zeros((10, 7))
    assert imresize(x, scale=0.5).shape == (5, 4)  # ceil(3.5)
    assert imresize(x, scale=(2, 3)).shape == (20, 21)
    assert imresize(np.zeros((10, 7, 3)), output_shape=(3, 2)).shape == (3, 2, 3)
    with pytest.raises(ValueError, match="exactly one"):
        imresize(x)
    with pytest.raises(ValueError, match="exactly one"):
        imresize(x, scale=2, output_shape=(3, 3))


def test_x4_down_of_replicated_ramp():
    """A linear ramp upsampled by pixel replication comes back exactly away from the border:
    the widened kernel's block sums are symmetric about each block centre."""
    lr = np.add.outer(3.0 * np.arange(12), 5.0 * np.arange(10))
    hr = np.kron(lr, np.ones((4, 4)))
    out = imresize(hr, scale=0.25)
    np.testing.assert_allclose(out[2:-2, 2:-2], lr[2:-2, 2:-2], atol=1e-10)
    assert np.abs(out - lr).max() > 0.1  # the symmetric boundary bends the ramp at the border


def test_uint8_rounds_each_pass():
    """uint8: each 1-D pass is rounded half away from zero and saturated (MATLAB's imresizemex
    keeps the input class), so the result can differ from rounding the float result once."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, size=(32, 28, 3), dtype=np.uint8)
    out = imresize(x, scale=0.25)
    assert out.dtype == np.uint8
    rows = resize_weights(32, 8, 0.25)
    cols = resize_weights(28, 7, 0.25)
    first = np.clip(np.floor(np.einsum("oh,hwc->owc", rows, x.astype(float)) + 0.5), 0, 255)
    second = np.clip(np.floor(np.einsum("pw,owc->opc", cols, first) + 0.5), 0, 255)
    np.testing.assert_array_equal(out, second)
    once = np.clip(np.floor(imresize(x.astype(float), scale=0.25) + 0.5), 0, 255)
    assert np.abs(out.astype(int) - once).max() <= 1
    # saturation: an edge's overshoot is clipped
    edge = np.zeros((16, 16), np.uint8)
    edge[:, 8:] = 255
    up = imresize(edge, scale=2)
    assert up.min() == 0 and up.max() == 255
    assert imresize(edge.astype(float), scale=2).max() > 255


def test_window_equals_full_resize():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(64, 80, 3), dtype=np.uint8)
    full = imresize(x, output_shape=(16, 20))
    win = imresize(x, output_shape=(16, 20), rows=slice(3, 11), cols=slice(0, 8))
    np.testing.assert_array_equal(win, full[3:11, 0:8])


def test_bicubic_downsample_mod_crops():
    x = np.random.default_rng(1).integers(0, 256, size=(27, 30, 3), dtype=np.uint8)
    assert mod_crop(x, 4).shape == (24, 28, 3)
    np.testing.assert_array_equal(bicubic_downsample(x, 4), imresize(x[:24, :28], scale=0.25))


# ---------------------------------------------------------------------------------------------
# config


def test_sr_input_config():
    cfg = get_cfg()
    add_vision_plugins_config(cfg)
    assert (cfg.INPUT.SR.SCALE, cfg.INPUT.SR.GT_SIZE) == (4, 128)
    assert cfg.INPUT.SR.USE_HFLIP and cfg.INPUT.SR.USE_ROT
    cfg.INPUT.SR.SCALE = 2
    add_sr_input_config(cfg)  # idempotent: keeps the changed value
    assert cfg.INPUT.SR.SCALE == 2
    assert build_sr_test_augmentation(cfg) == []


# ---------------------------------------------------------------------------------------------
# datasets


def _write(path, rgb):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, np.ascontiguousarray(rgb[:, :, ::-1]))


def _hr(seed, h=50, w=66):
    return render_sr_image(image_rng(seed, 0), size=max(h, w))[:h, :w]


@pytest.fixture
def catalog():
    """Names registered by a test are removed afterwards."""
    names = []
    yield names
    for name in names:
        if name in DatasetCatalog:
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)


def test_hr_folder_dataset(tmp_path, catalog):
    _write(str(tmp_path / "hr" / "b.png"), _hr(1))
    _write(str(tmp_path / "hr" / "a.png"), _hr(2, 40, 40))
    catalog.append("test_sr_hr")
    register_sr_hr_folder("test_sr_hr", str(tmp_path / "hr"), scale=3)
    dicts = DatasetCatalog.get("test_sr_hr")
    assert [os.path.basename(d["file_name"]) for d in dicts] == ["a.png", "b.png"]
    assert (dicts[1]["width"], dicts[1]["height"], dicts[1]["dataset_layout"]) == (66, 50, "sr_hr")
    meta = MetadataCatalog.get("test_sr_hr")
    assert (meta.evaluator_type, meta.scale) == ("super_resolution", 3)
    catalog.append("test_sr_missing")
    register_sr_hr_folder("test_sr_missing", str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="nope"):
        DatasetCatalog.get("test_sr_missing")


def test_paired_dataset_and_errors(tmp_path, catalog):
    hr = _hr(3, 48, 64)
    _write(str(tmp_path / "HR" / "0001.png"), hr)
    _write(str(tmp_path / "LR" / "0001x4.png"), bicubic_downsample(hr, 4))
    catalog.append("test_sr_paired")
    register_sr_paired("test_sr_paired", str(tmp_path / "LR"), str(tmp_path / "HR"), 4, "{}x4")
    (d,) = DatasetCatalog.get("test_sr_paired")
    assert d["lr_file_name"].endswith("0001x4.png") and d["sr_scale"] == 4
    assert MetadataCatalog.get("test_sr_paired").dataset_layout == "sr_paired"
    # no LR file for an HR file
    with pytest.raises(FileNotFoundError, match=r"0001\.png.*has no LR image '0001'"):
        load_sr_paired(str(tmp_path / "LR"), str(tmp_path / "HR"), 4)
    # size mismatch: both files named
    _write(str(tmp_path / "LR2" / "0001.png"), bicubic_downsample(hr, 2))
    with pytest.raises(ValueError, match=r"LR image .*0001\.png' is 32x24 but HR image .*0001"):
        load_sr_paired(str(tmp_path / "LR2"), str(tmp_path / "HR"), 4)
    # an HR image up to scale - 1 pixels larger is accepted (mod-cropped by the mapper)
    _write(str(tmp_path / "HR3" / "0001.png"), _hr(3, 51, 67))
    (d,) = load_sr_paired(str(tmp_path / "LR"), str(tmp_path / "HR3"), 4, "{}x4")
    out = SRMapper(is_train=False, scale=4)(d)
    assert tuple(out["target"].shape) == (3, 48, 64) and tuple(out["image"].shape) == (3, 12, 16)


def test_builtin_names(tmp_path):
    for name in ("div2k_train_x4", "div2k_valid_x2", "set5_x4", "set14_x3", "bsd100_x4",
                 "urban100_x4", "manga109_x4"):  # fmt: skip
        assert name in DatasetCatalog.list()
        assert MetadataCatalog.get(name).evaluator_type == "super_resolution"
    names = ("set5_x4", "set5_x2")
    try:
        for name in names:
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        register_builtin_sr(str(tmp_path))
        with pytest.raises(FileNotFoundError, match=r"benchmark/Set5/HR.*does not exist"):
            DatasetCatalog.get("set5_x4")
        hr = _hr(5, 40, 44)
        _write(str(tmp_path / "benchmark" / "Set5" / "HR" / "baby.png"), hr)
        (d,) = DatasetCatalog.get("set5_x4")  # no LR folder: LR made on the fly
        assert d["dataset_layout"] == "sr_hr"
        lr = str(tmp_path / "benchmark" / "Set5" / "LR_bicubic" / "X4" / "babyx4.png")
        _write(lr, bicubic_downsample(hr, 4))
        (d,) = DatasetCatalog.get("set5_x4")
        assert d["dataset_layout"] == "sr_paired" and d["lr_file_name"] == lr
    finally:
        for name in names:
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        register_builtin_sr()
    assert "set5_x4" in DatasetCatalog.list()


# ---------------------------------------------------------------------------------------------
# synthetic


def test_synthetic_deterministic(tmp_path, monkeypatch):
    a = render_sr_image(image_rng(7, 3))
    np.testing.assert_array_equal(a, render_sr_image(image_rng(7, 3)))
    assert a.shape == (SR_SIZE, SR_SIZE, 3) and a.dtype == np.uint8
    assert not np.array_equal(a, render_sr_image(image_rng(7, 4)))
    paths = [ensure_generated("vp_sr_val", num_images=3, root=str(tmp_path / r)) for r in "xy"]
    images = [sorted(os.listdir(os.path.join(p[1], "val"))) for p in paths]
    assert images[0] == images[1] == ["000000.png", "000001.png", "000002.png"]
    for f in images[0]:
        x, y = (open(os.path.join(p[1], "val", f), "rb").read() for p in paths)
        assert x == y
    monkeypatch.setenv("VP_DATASETS", str(tmp_path / "x"))
    try:
        register_all_synthetic()  # vp_sr_* re-registered with every synthetic family
        meta = MetadataCatalog.get("vp_sr_train")
        assert (meta.evaluator_type, meta.scale) == ("super_resolution", 4)
        assert meta.image_root.startswith(str(tmp_path / "x"))
    finally:
        monkeypatch.undo()
        register_all_synthetic()


def test_synthetic_has_detail_bicubic_loses():
    """The images are busy (mean gradient magnitude) and x4 bicubic loses much of it: the
    setting where an MSE-trained upscaler's blur shows."""
    from vision_plugins.evaluation.super_resolution import bicubic_upsample, sr_metrics
    from vision_plugins.evaluation.translation import gradient_magnitude

    psnr, ratio = [], []
    for i in range(4):
        hr = render_sr_image(image_rng(11, i))
        up = bicubic_upsample(torch.as_tensor(bicubic_downsample(hr, 4).transpose(2, 0, 1)), 4)
        target = torch.as_tensor(hr.transpose(2, 0, 1)).double()
        psnr.append(sr_metrics(up, target, 4)["PSNR_Y"])
        ratio.append(gradient_magnitude(up) / gradient_magnitude(target))
    assert 18 < np.mean(psnr) < 30  # measured 23.4 dB on the 24 vp_sr_val images
    assert np.mean(ratio) < 0.6  # measured sharpness 0.39 on vp_sr_val


# ---------------------------------------------------------------------------------------------
# mapper


def _sr_dict(tmp_path, seed=0, h=50, w=66):
    hr = _hr(seed, h, w)
    path = str(tmp_path / f"hr_{seed}.png")
    _write(path, hr)
    return {"file_name": path, "image_id": seed, "dataset_layout": "sr_hr"}, hr


def _hwc(t):
    return t.permute(1, 2, 0).numpy().astype(np.uint8)


def test_mapper_from_config_and_checks():
    cfg = get_cfg()
    add_vision_plugins_config(cfg)
    cfg.INPUT.FORMAT = "RGB"
    cfg.INPUT.SR.GT_SIZE = 32
    m = SRMapper(cfg, True)
    assert (m.scale, m.gt_size, m.use_hflip, m.use_rot, m.image_format) == (4, 32, 1, 1, "RGB")
    with pytest.raises(ValueError, match="GT_SIZE=30 must be a positive multiple"):
        SRMapper(is_train=True, scale=4, gt_size=30)
    SRMapper(is_train=False, scale=4, gt_size=30)  # GT_SIZE is a training key


def test_mapper_test_mode_whole_image(tmp_path):
    d, hr = _sr_dict(tmp_path)
    out = SRMapper(is_train=False, scale=4)(d)
    assert tuple(out["image"].shape) == (3, 12, 16) and out["image"].dtype == torch.float32
    assert tuple(out["target"].shape) == (3, 48, 64)
    assert (out["height"], out["width"], out["sr_scale"]) == (12, 16, 4)
    np.testing.assert_array_equal(_hwc(out["target"]), hr[:48, :64])
    np.testing.assert_array_equal(_hwc(out["image"]), bicubic_downsample(hr, 4))
    # BGR format flips the channels of both
    bgr = SRMapper(is_train=False, scale=4, image_format="BGR")(d)
    assert torch.equal(bgr["image"], out["image"].flip(0))
    assert torch.equal(bgr["target"], out["target"].flip(0))


def test_mapper_train_crop_aligned(tmp_path):
    d, hr = _sr_dict(tmp_path, seed=4, h=70, w=90)
    s, gt = 4, 32
    p = gt // s
    full_lr = bicubic_downsample(hr, s)  # 17 x 22
    m = SRMapper(is_train=True, scale=s, gt_size=gt, use_hflip=False, use_rot=False)
    for seed in range(6):
        random.seed(seed)
        out = m(d)
        random.seed(seed)
        top, left = random.randint(0, 17 - p), random.randint(0, 22 - p)
        lr, target = _hwc(out["image"]), _hwc(out["target"])
        assert lr.shape == (p, p, 3) and target.shape == (gt, gt, 3)
        assert (out["height"], out["width"]) == (p, p)
        # the LR crop is the crop of the LR image made from the whole HR image ...
        np.testing.assert_array_equal(lr, full_lr[top : top + p, left : left + p])
        # ... at the HR crop's position: downscaling the HR crop gives it back away from the
        # crop border (2 LR pixels: the x4 kernel's reach)
        np.testing.assert_array_equal(target, hr[top * s : top * s + gt, left * s : left * s + gt])
        np.testing.assert_array_equal(bicubic_downsample(target, s)[2:-2, 2:-2], lr[2:-2, 2:-2])


def test_mapper_augment_basicsr_draws(tmp_path):
    """hflip / vflip / transpose drawn after the crop with random.random() < 0.5 each, applied
    to LR and HR alike."""
    d, hr = _sr_dict(tmp_path, seed=5, h=64, w=64)
    s, gt = 4, 32
    plain = SRMapper(is_train=True, scale=s, gt_size=gt, use_hflip=False, use_rot=False)
    aug = SRMapper(is_train=True, scale=s, gt_size=gt)
    seen = set()
    for seed in range(16):
        random.seed(seed)
        ref = plain(d)
        random.seed(seed)
        out = aug(d)
        random.seed(seed)
        random.randint(0, 8), random.randint(0, 8)
        flips = tuple(random.random() < 0.5 for _ in range(3))
        seen.add(flips)
        for key in ("image", "target"):
            x = _hwc(ref[key])
            if flips[0]:
                x = x[:, ::-1]
            if flips[1]:
                x = x[::-1]
            if flips[2]:
                x = x.transpose(1, 0, 2)
            np.testing.assert_array_equal(_hwc(out[key]), x)
        # still aligned: downscaled HR equals LR inside (±1: the pass order changes under a
        # transpose, and each uint8 pass rounds)
        diff = bicubic_downsample(_hwc(out["target"]), s)[2:-2, 2:-2].astype(int)
        assert np.abs(diff - _hwc(out["image"])[2:-2, 2:-2]).max() <= 1
    assert len(seen) >= 6


def test_mapper_paired_and_errors(tmp_path):
    hr = _hr(6, 64, 64)
    _write(str(tmp_path / "HR" / "x.png"), hr)
    lr = bicubic_downsample(hr, 4)
    lr[0, 0] = [1, 2, 3]  # a file LR differing from the on-the-fly one
    _write(str(tmp_path / "LR" / "x.png"), lr)
    (d,) = load_sr_paired(str(tmp_path / "LR"), str(tmp_path / "HR"), 4)
    out = SRMapper(is_train=False, scale=4)(d)
    np.testing.assert_array_equal(_hwc(out["image"]), lr)  # the file is used
    random.seed(0)
    out = SRMapper(is_train=True, scale=4, gt_size=64)(d)  # the whole 16x16 LR image
    assert tuple(out["image"].shape) == (3, 16, 16)
    with pytest.raises(ValueError, match="pairs of scale 4 but INPUT.SR.SCALE=2"):
        SRMapper(is_train=False, scale=2)(d)
    with pytest.raises(ValueError, match="smaller than the LR crop 32"):
        SRMapper(is_train=True, scale=4, gt_size=128)(d)
    with pytest.raises(ValueError, match="dataset_layout='aligned'"):
        SRMapper(is_train=False)({"file_name": d["file_name"], "dataset_layout": "aligned"})


def test_mapper_single_lr_image_and_sr_lr_image(tmp_path):
    """A bare dict is one LR image (what Predictor gets); sr_lr_image gives every layout's
    model input."""
    d, hr = _sr_dict(tmp_path, seed=8, h=45, w=38)
    m = SRMapper(is_train=False, scale=4)
    bare = m({"file_name": d["file_name"], "image_id": 3})
    assert "target" not in bare and (bare["height"], bare["width"]) == (45, 38)
    np.testing.assert_array_equal(_hwc(bare["image"]), hr)
    np.testing.assert_array_equal(sr_lr_image({"file_name": d["file_name"]}, 4), hr)
    out = m(d)
    np.testing.assert_array_equal(sr_lr_image(d, 4), _hwc(out["image"]))
    np.testing.assert_array_equal(sr_lr_image(d, 4, "BGR"), _hwc(out["image"])[:, :, ::-1])
    with pytest.raises(ValueError, match="cannot train"):
        SRMapper(is_train=True, scale=4, gt_size=8)({"file_name": d["file_name"]})
