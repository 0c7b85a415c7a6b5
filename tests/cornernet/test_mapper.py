"""CornerNetMapper: the official CornerNet training sampling (vision_plugins/cornernet/mapper.py).
Optional comparison with the official code: ``VP_OFFICIAL_CORNERNET`` = a princeton-vl/CornerNet
checkout (@e5c39a3)."""

import os
import random

import cv2
import numpy as np
import pytest
from detectron2.structures import BoxMode

from vision_plugins.cornernet.mapper import (
    EIG_VAL,
    EIG_VEC,
    CanvasCropTransform,
    ColorLighting,
    ColorLightingTransform,
    CornerNetMapper,
    PixelHFlipTransform,
    RandomCanvasCrop,
    build_cornernet_augmentation,
    clip_boxes,
    crop_border,
)
from vision_plugins.data import build_mapper
from vision_plugins.engine import setup_cfg

COCO = "configs/CornerNet/cornernet_hg104_coco.yaml"
SCALES = [0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3]


def test_crop_border():
    assert crop_border(128, 640) == 128
    assert crop_border(128, 200) == 64  # 200 - 128 <= 128; 200 - 64 > 64
    assert crop_border(128, 100) == 32  # 100 - 64 <= 64; 100 - 32 > 32
    assert crop_border(128, 256) == 64  # 256 - 128 == 128 is not enough


def test_canvas_crop_placement_and_boxes():
    img = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    # centre (2, 1), window 6 x 4: half sizes 3, 2; source x [0, 5), y [0, 3) at canvas (1, 1)
    t = CanvasCropTransform(2, 1, 6, 4, 8, 6)
    out = t.apply_image(img)
    assert out.shape == (4, 6, 3)
    np.testing.assert_array_equal(out[1:4, 1:6], img[0:3, 0:5])
    assert out[0].sum() == 0 and out[:, 0].sum() == 0
    np.testing.assert_allclose(t.apply_box(np.array([[1.0, 0.0, 4.0, 2.0]])), [[2, 1, 5, 3]])
    # odd width 5 at centre x 4: half 2, source x [2, 6) at canvas 0; the last column stays 0
    t = CanvasCropTransform(4, 3, 5, 6, 8, 6)
    out = t.apply_image(img)
    np.testing.assert_array_equal(out[:, :4], img[:, 2:6])
    assert out[:, 4].sum() == 0
    np.testing.assert_allclose(t.apply_box(np.array([[2.0, 0.0, 6.0, 6.0]])), [[0, 0, 4, 6]])


def test_flip_and_clip():
    t = PixelHFlipTransform(50)
    np.testing.assert_allclose(t.apply_box(np.array([[5.0, 15.0, 15.0, 25.0]])), [[34, 15, 44, 25]])
    boxes, keep = clip_boxes([[-3, 2, 10, 60], [49.5, 0, 70, 10], [5, 5, 5, 9]], 50, 50)
    np.testing.assert_array_equal(keep, [True, False, False])
    np.testing.assert_allclose(boxes, [[0, 2, 10, 49]])


def _cfg(*opts):
    return setup_cfg(COCO, ["MODEL.DEVICE", "cpu", *opts])


def _write(tmp_path, h=80, w=100):
    rng = np.random.RandomState(0)
    image = rng.randint(0, 256, (h, w, 3)).astype(np.uint8)
    path = str(tmp_path / "a.png")
    cv2.imwrite(path, image)
    return path, image


def _anno(box, cat=3, crowd=0):
    return {"bbox": box, "bbox_mode": BoxMode.XYXY_ABS, "category_id": cat, "iscrowd": crowd}


@pytest.mark.parametrize("crowd_as_objects", [True, False])
def test_mapper_full_image_boxes(tmp_path, crowd_as_objects):
    path, image = _write(tmp_path)
    cfg = _cfg("INPUT.CORNERNET.RAND_CROP", False, "INPUT.CORNERNET.FLIP", False,
               "INPUT.CORNERNET.RAND_COLOR", False, "INPUT.CORNERNET.INPUT_SIZE", 50,
               "INPUT.CORNERNET.CROWD_AS_OBJECTS", crowd_as_objects)  # fmt: skip
    mapper = CornerNetMapper(cfg, True)
    annos = [_anno([10, 20, 30, 40], 1), _anno([90, 70, 120, 79], 2),
             _anno([99.5, 0, 110, 10], 4), _anno([0, 0, 50, 50], 5, crowd=1)]  # fmt: skip
    d = mapper({"file_name": path, "image_id": 1, "height": 80, "width": 100, "annotations": annos})
    # the 100 x 80 image at (0, 10) of a 100² zero canvas, then x 0.5; boxes clipped to 49
    canvas = np.zeros((100, 100, 3), np.uint8)
    canvas[10:90] = image
    np.testing.assert_array_equal(
        d["image"].numpy().transpose(1, 2, 0), cv2.resize(canvas, (50, 50))
    )
    inst = d["instances"]
    assert inst.image_size == (50, 50)
    boxes, classes = [[5, 15, 15, 25], [45, 40, 49, 44.5]], [1, 2]  # degenerate one dropped
    if crowd_as_objects:  # the official loader trains on crowd boxes as objects (the default)
        boxes, classes = boxes + [[0, 5, 25, 30]], classes + [5]
    np.testing.assert_allclose(inst.gt_boxes.tensor.numpy(), boxes)
    assert inst.gt_classes.tolist() == classes


def test_mapper_seeded_and_consistent(tmp_path):
    path, _ = _write(tmp_path, 300, 400)
    mapper = CornerNetMapper(_cfg(), True)
    d = {"file_name": path, "image_id": 1, "height": 300, "width": 400,
         "annotations": [_anno([100, 100, 200, 180], 7)]}  # fmt: skip
    outs = []
    for _ in range(2):
        random.seed(3)
        np.random.seed(3)
        outs.append(mapper(d))
    a, b = outs
    assert a["image"].shape == (3, 511, 511) and a["image"].dtype.is_floating_point
    assert (a["image"] == b["image"]).all()
    assert (a["instances"].gt_boxes.tensor == b["instances"].gt_boxes.tensor).all()
    assert d["annotations"][0]["bbox"] == [100, 100, 200, 180]  # input untouched


def test_scale_and_centre_distribution():
    aug = RandomCanvasCrop(SCALES, 511, 128)
    image = np.zeros((300, 400, 3), np.uint8)
    np.random.seed(0)
    ts = [aug.get_transform(image) for _ in range(4000)]
    sizes = np.array([t.width for t in ts])
    assert all(t.width == t.height for t in ts)
    expected = [int(511 * s) for s in SCALES]
    assert sorted(set(sizes)) == expected
    freq = np.array([(sizes == s).mean() for s in expected])
    np.testing.assert_allclose(freq, 1 / 8, atol=0.03)
    ctx, cty = np.array([t.ctx for t in ts]), np.array([t.cty for t in ts])
    assert ctx.min() == 128 and ctx.max() == 271  # randint(128, 400 - 128)
    assert cty.min() == 128 and cty.max() == 171  # randint(128, 300 - 128)
    assert abs(ctx.mean() - 199.5) < 3 and abs(cty.mean() - 149.5) < 1.5
    np.random.seed(0)
    again = [aug.get_transform(image) for _ in range(20)]
    assert [(t.ctx, t.cty, t.width) for t in again] == [(t.ctx, t.cty, t.width) for t in ts[:20]]
    # small image: the border halves (crop_border(128, 100) == 32)
    small = [aug.get_transform(np.zeros((100, 100, 3), np.uint8)) for _ in range(500)]
    assert min(t.ctx for t in small) == 32 and max(t.ctx for t in small) == 67


def test_color_lighting_hand_computed():
    # a gray image: saturation first blends it with itself (no-op); brightness x 0.8; contrast
    # then blends with the gray mean computed before (the official order): 0.7 * 0.8 + 0.3
    img = np.full((4, 5, 3), 100, np.uint8)
    light = np.array([0.1, -0.2, 0.05])
    t = ColorLightingTransform(["saturation", "brightness", "contrast"], [1.3, 0.8, 0.7], light,
                               EIG_VAL, EIG_VEC)  # fmt: skip
    shift = np.asarray(EIG_VEC) @ (np.asarray(EIG_VAL) * light)
    expected = (100 / 255 * 0.86 + shift) * 255
    np.testing.assert_allclose(t.apply_image(img), np.broadcast_to(expected, (4, 5, 3)), rtol=1e-5)
    rgb = ColorLightingTransform([], [], light, EIG_VAL, EIG_VEC, "RGB").apply_image(img)
    np.testing.assert_allclose(rgb[0, 0], 100 + shift[::-1] * 255, rtol=1e-5)
    # contrast towards the gray mean; saturation towards each pixel's gray
    img = np.zeros((1, 2, 3), np.uint8)
    img[0, 1] = 255
    out = ColorLightingTransform(["contrast"], [0.5], None, EIG_VAL, EIG_VEC).apply_image(img)
    np.testing.assert_allclose(out[0, :, 0], [63.75, 191.25], rtol=1e-5)
    img = np.array([[[255, 0, 0]]], np.uint8)  # BGR blue: gray 0.114
    out = ColorLightingTransform(["saturation"], [0.0], None, EIG_VAL, EIG_VEC).apply_image(img)
    np.testing.assert_allclose(out[0, 0], [0.114 * 255] * 3, rtol=1e-3)


def test_color_lighting_seeded_and_bounded():
    aug = ColorLighting()
    img = np.random.RandomState(1).randint(0, 256, (16, 16, 3)).astype(np.uint8)
    # x' = a x + (1 - a) g, |1 - a| <= 0.4, g in [0, 255]: three steps from [0, 255]
    lo, hi = 0.0, 255.0
    for _ in range(3):
        lo, hi = min(0.6 * lo, 1.4 * lo) - 0.4 * 255, 1.4 * hi + 0.4 * 255
    draws = []
    for seed in range(200):
        random.seed(seed)
        np.random.seed(seed)
        t = aug.get_transform(img)
        draws.append(t)
        assert sorted(t.order) == ["brightness", "contrast", "saturation"]
        assert all(0.6 <= a <= 1.4 for a in t.alphas)
        out = t.apply_image(img)
        assert out.dtype == np.float32 and np.isfinite(out).all()
        assert np.abs(t.lighting).max() < 0.5  # 5 sigma: the lighting shift is < 0.1 x 255
        assert out.min() > lo - 0.1 * 255 and out.max() < hi + 0.1 * 255
    random.seed(5)
    np.random.seed(5)
    again = aug.get_transform(img)
    np.testing.assert_array_equal(again.apply_image(img), draws[5].apply_image(img))
    assert len({tuple(t.order) for t in draws}) == 6
    light = np.array([t.lighting for t in draws])
    assert abs(light.std() - 0.1) < 0.015 and abs(light.mean()) < 0.015


def test_configs_and_test_mode(tmp_path):
    coco = _cfg()
    assert coco.INPUT.DATASET_MAPPER_NAME == "CornerNetMapper"
    assert list(coco.INPUT.CORNERNET.RAND_SCALES) == SCALES
    assert (coco.INPUT.CORNERNET.BORDER, coco.INPUT.CORNERNET.INPUT_SIZE) == (128, 511)
    # the official loader: every image, crowd boxes as objects
    assert coco.INPUT.CORNERNET.CROWD_AS_OBJECTS and not coco.DATALOADER.FILTER_EMPTY_ANNOTATIONS
    for f in ("cornernet_hg104_coco_multiscale.yaml", "centernet_triplet_hg104_coco.yaml",
              "centernet_triplet_hg104_coco_multiscale.yaml"):  # fmt: skip
        assert (
            setup_cfg("configs/CornerNet/" + f, []).INPUT.DATASET_MAPPER_NAME == "CornerNetMapper"
        )
    for f in (
        "cornernet_hg_small_synth_shapes.yaml",
        "centernet_triplet_hg_small_synth_shapes.yaml",
    ):
        assert setup_cfg("configs/CornerNet/" + f, []).INPUT.DATASET_MAPPER_NAME == "DatasetMapper"
    names = [type(a).__name__ for a in build_cornernet_augmentation(coco)]
    assert names == ["RandomCanvasCrop", "_FixedResize", "RandomPixelFlip", "ColorLighting"]
    # test mode: the image at its own resolution, as before
    path, image = _write(tmp_path)
    d = build_mapper(coco, False)({"file_name": path, "image_id": 1, "height": 80, "width": 100})
    np.testing.assert_array_equal(d["image"].numpy().transpose(1, 2, 0), image)


OFFICIAL = os.environ.get("VP_OFFICIAL_CORNERNET")


@pytest.mark.skipif(not OFFICIAL, reason="VP_OFFICIAL_CORNERNET not set")
@pytest.mark.parametrize("hw", [(300, 400), (480, 640), (100, 180)])
def test_official_geometry_same_seed(tmp_path, hw):
    from tests.official.cornernet import official_sampling

    h, w = hw
    path, image = _write(tmp_path, h, w)
    rng = np.random.RandomState(h)
    x1, y1 = rng.uniform(0, w - 20, 12), rng.uniform(0, h - 20, 12)
    boxes = np.stack([x1, y1, x1 + rng.uniform(2, w / 2, 12), y1 + rng.uniform(2, h / 2, 12)], 1)
    boxes = np.minimum(boxes, [w, h, w, h])
    annos = [_anno(b.tolist(), i) for i, b in enumerate(boxes)]
    mapper = CornerNetMapper(_cfg("INPUT.CORNERNET.RAND_COLOR", False), True)
    with official_sampling(OFFICIAL) as o:
        for seed in range(12):
            np.random.seed(seed)
            dets = np.hstack([boxes, np.arange(len(boxes))[:, None]])
            im, dets = o.random_crop(image.copy(), dets, SCALES, [511, 511], border=128)
            im, dets = o.resize_image(im, dets, [511, 511])
            dets = o.clip_detections(im, dets)
            if np.random.uniform() > 0.5:
                im[:] = im[:, ::-1, :]
                dets[:, [0, 2]] = im.shape[1] - dets[:, [2, 0]] - 1
            np.random.seed(seed)
            d = mapper({"file_name": path, "image_id": 1, "height": h, "width": w,
                        "annotations": annos})  # fmt: skip
            np.testing.assert_array_equal(d["image"].numpy().transpose(1, 2, 0), im)
            inst = d["instances"]
            assert inst.gt_classes.tolist() == dets[:, 4].astype(int).tolist()
            np.testing.assert_allclose(inst.gt_boxes.tensor.numpy(), dets[:, :4], atol=1e-3)


@pytest.mark.skipif(not OFFICIAL, reason="VP_OFFICIAL_CORNERNET not set")
def test_official_color_lighting_same_seed():
    from tests.official.cornernet import official_sampling

    img = np.random.RandomState(2).randint(0, 256, (32, 24, 3)).astype(np.uint8)
    aug = ColorLighting()
    with official_sampling(OFFICIAL) as o:
        np.testing.assert_allclose(o.eig_val, EIG_VAL)
        np.testing.assert_allclose(o.eig_vec, EIG_VEC)
        for seed in range(20):
            random.seed(seed)
            data_rng = np.random.RandomState(seed)
            ref = img.astype(np.float32) / 255.0
            o.color_jittering_(data_rng, ref)
            o.lighting_(data_rng, ref, 0.1, o.eig_val, o.eig_vec)
            random.seed(seed)
            np.random.seed(seed)  # the global generator in the same state as data_rng
            ours = aug.get_transform(img).apply_image(img) / 255.0
            np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
