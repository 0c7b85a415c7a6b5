"""CenterNet-OAP training input (``vision_plugins/centernet/mapper.py``): the affine matrix on
hand-computed cases, boxes and images through the transform, the seeded draws, the colour
augmentation, the mapper (training and unchanged test mode), the configs, and (optional,
``VP_OFFICIAL_CENTERNET_OAP``) the official ``get_affine_transform`` / ``color_aug`` on the same
inputs."""

import os
import random

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import transforms as T
from detectron2.structures import BoxMode

from vision_plugins.centernet.mapper import (
    EIGEN_VALUES,
    EIGEN_VECTORS,
    SCALE_CHOICES,
    CenterNetAffine,
    CenterNetAffineTransform,
    CenterNetMapper,
    border,
    centernet_affine_matrix,
    color_augment,
)
from vision_plugins.data import DatasetMapper
from vision_plugins.data.mappers import build_mapper
from vision_plugins.engine import setup_cfg

OFFICIAL = os.environ.get("VP_OFFICIAL_CENTERNET_OAP")
COCO = "configs/CenterNet/centernet_oap_res18_coco.yaml"
SYNTH = "configs/CenterNet/centernet_oap_res18_synth_shapes.yaml"


def _apply(m, x, y):
    return tuple(m @ np.array([x, y, 1.0]))


# ---- the affine matrix ------------------------------------------------------------------------


@pytest.mark.parametrize("flip", [False, True])
def test_centre_maps_to_output_centre(flip):
    m = centernet_affine_matrix((300.0, 170.0), 640.0, 512, 512, flip)
    np.testing.assert_allclose(_apply(m, 300, 170), (256, 256))


def test_scale_and_flip_by_hand():
    m = centernet_affine_matrix((100.0, 50.0), 256.0, 512, 512)  # k = 2
    np.testing.assert_allclose(m, [[2, 0, 256 - 200], [0, 2, 256 - 100]])
    np.testing.assert_allclose(_apply(m, 110, 40), (276, 236))
    f = centernet_affine_matrix((100.0, 50.0), 256.0, 512, 512, flip=True)
    np.testing.assert_allclose(f, [[-2, 0, 256 + 200], [0, 2, 256 - 100]])
    np.testing.assert_allclose(_apply(f, 110, 40), (236, 236))  # mirrored about the centre
    # the square of side s around the centre fills the output
    np.testing.assert_allclose(_apply(m, 100 - 128, 50 - 128), (0, 0))
    np.testing.assert_allclose(_apply(m, 100 + 128, 50 + 128), (512, 512))
    # non-square output (as the official get_affine_transform: k = out_w / s)
    r = centernet_affine_matrix((10.0, 20.0), 100.0, 200, 100)
    np.testing.assert_allclose(r, [[2, 0, 100 - 20], [0, 2, 50 - 40]])


@pytest.mark.parametrize("size, expected", [(512, 128), (257, 128), (256, 64), (200, 64),
                                            (100, 32), (3, 1), (1, 0)])  # fmt: skip
def test_border(size, expected):
    assert border(128, size) == expected


# ---- the transform ----------------------------------------------------------------------------


def test_boxes_and_image_through_the_transform():
    m = centernet_affine_matrix((40.0, 30.0), 64.0, 128, 128)  # k = 2, x' = 2x - 16, y' = 2y + 4
    t = CenterNetAffineTransform(m, 128, 128)
    np.testing.assert_allclose(t.apply_box(np.array([[10.0, 5.0, 20.0, 25.0]])), [[4, 14, 24, 54]])
    np.testing.assert_allclose(t.apply_coords(np.array([[0.0, 0.0]])), [[-16, 4]])
    img = np.zeros((60, 80, 3), np.uint8)
    img[20, 30] = (10, 20, 30)  # pixel (30, 20) -> (44, 44), the official pixel-index convention
    out = t.apply_image(img)
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[44, 44], (10, 20, 30))
    mask = np.zeros((60, 80), np.uint8)
    mask[20, 30] = 1
    warped = t.apply_segmentation(mask)
    assert warped.shape == (128, 128) and set(np.unique(warped)) == {0, 1}
    assert warped[44, 44] == 1
    f = CenterNetAffineTransform(
        centernet_affine_matrix((40.0, 30.0), 64.0, 128, 128, True), 128, 128
    )
    # mirrored: x1 and x2 swap, the box stays ordered
    np.testing.assert_allclose(
        f.apply_box(np.array([[10.0, 5.0, 20.0, 25.0]])), [[104, 14, 124, 54]]
    )
    out = f.apply_image(img)
    np.testing.assert_array_equal(out[44, 64 + 2 * (40 - 30)], (10, 20, 30))


# ---- the draws --------------------------------------------------------------------------------


def test_draws_follow_the_official_order():
    aug = CenterNetAffine()
    np.random.seed(3)
    center, scale, flip = aug.draw(240, 400)
    np.random.seed(3)
    factor = np.random.choice(np.asarray(SCALE_CHOICES))
    cx, cy = np.random.randint(low=128, high=400 - 128), np.random.randint(low=64, high=240 - 64)
    assert scale == pytest.approx(400 * factor)
    np.testing.assert_array_equal(center, (cx, cy))
    assert flip == (np.random.random() < 0.5)


def test_seeded_distribution_of_scales_shifts_and_flips():
    aug = CenterNetAffine()
    np.random.seed(0)
    draws = [aug.draw(240, 400) for _ in range(4000)]
    factors = np.array([s for _, s, _ in draws]) / 400
    values, counts = np.unique(np.round(factors, 6), return_counts=True)
    np.testing.assert_allclose(values, SCALE_CHOICES)
    assert counts.min() > 400 and counts.max() < 600  # 500 expected each
    cx = np.array([c[0] for c, _, _ in draws])
    cy = np.array([c[1] for c, _, _ in draws])
    assert cx.min() == 128 and cx.max() == 400 - 128 - 1  # randint: high excluded
    assert cy.min() == 64 and cy.max() == 240 - 64 - 1
    assert abs(cx.mean() - (128 + 271) / 2) < 3 and abs(cy.mean() - (64 + 175) / 2) < 3
    assert 0.47 < np.mean([f for _, _, f in draws]) < 0.53
    np.random.seed(0)
    assert [aug.draw(240, 400)[1] for _ in range(5)] == [s for _, s, _ in draws[:5]]


def test_get_transform_is_the_drawn_affine():
    aug = CenterNetAffine(input_res=64)
    np.random.seed(1)
    center, scale, flip = aug.draw(100, 120)
    np.random.seed(1)
    t = aug.get_transform(np.zeros((100, 120, 3), np.uint8))
    assert (t.out_w, t.out_h) == (64, 64)
    np.testing.assert_allclose(t.matrix, centernet_affine_matrix(center, scale, 64, 64, flip))


# ---- colour -----------------------------------------------------------------------------------


class _ScriptedRng:
    def __init__(self, uniforms, normal):
        self.uniforms, self.normal_value = iter(uniforms), np.asarray(normal, np.float64)

    def uniform(self, low, high):
        assert (low, high) == (-0.4, 0.4)
        return next(self.uniforms)

    def normal(self, scale, size):
        assert scale == 0.1 and size == (3,)
        return self.normal_value


def test_color_augment_by_hand():
    img = np.full((4, 5, 3), 0.5, np.float32)  # grey: the grey image is 0.5 everywhere
    rng = _ScriptedRng([0.2, -0.1, 0.3], [0.0, 0.0, 0.0])
    out = color_augment(img.copy(), rng, order=["brightness", "contrast", "saturation"])
    b = 0.5 * 1.2
    c = 0.9 * b + 0.1 * 0.5
    s = 1.3 * c - 0.3 * 0.5
    np.testing.assert_allclose(out, s, rtol=1e-6)
    # lighting alone: + eigvec @ (eigval * alpha), per BGR channel
    rng = _ScriptedRng([0.0, 0.0, 0.0], [0.1, -0.2, 0.3])
    out = color_augment(img.copy(), rng, order=["saturation", "brightness", "contrast"])
    shift = EIGEN_VECTORS.astype(np.float64) @ (EIGEN_VALUES * np.array([0.1, -0.2, 0.3]))
    np.testing.assert_allclose(out, np.broadcast_to(0.5 + shift, out.shape), rtol=1e-6)


def test_color_augment_bounded_and_deterministic():
    image = np.random.RandomState(0).rand(20, 30, 3).astype(np.float32)

    def run(seed):
        random.seed(seed)
        return color_augment(image.copy(), np.random.RandomState(seed))

    a, b = run(5), run(5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, run(6))
    for seed in range(50):
        out = run(seed)
        # each factor in [0.6, 1.4] on values in [0, 1]: three steps bound the result by 1.4³;
        # lighting moves by a few hundredths at most
        assert out.min() > -(1.4**3) - 0.1 and out.max() < 1.4**3 + 0.1
        assert np.abs(out - image).mean() < 0.6


# ---- the mapper -------------------------------------------------------------------------------


def _cfg(*opts):
    return setup_cfg(COCO, ["MODEL.CENTERNET_OAP.NUM_CLASSES", 3, *opts])


def _dict(path, boxes, h=100, w=200):
    annos = [{"bbox": [float(v) for v in b], "bbox_mode": BoxMode.XYXY_ABS, "category_id": i % 3,
              "iscrowd": 0} for i, b in enumerate(boxes)]  # fmt: skip
    return {"file_name": path, "height": h, "width": w, "image_id": 0, "annotations": annos}


def test_configs():
    cfg = setup_cfg(COCO, [])
    assert cfg.INPUT.DATASET_MAPPER_NAME == "CenterNetMapper"
    c = cfg.INPUT.CENTERNET_OAP
    assert (c.INPUT_RES, c.BORDER, c.FLIP, c.COLOR_AUG) == (512, 128, 0.5, True)
    # the official ctdet loader: every image, crowd boxes as objects
    assert c.CROWD_AS_OBJECTS and not cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS
    np.testing.assert_allclose(c.SCALE_CHOICES, np.arange(0.6, 1.4, 0.1))
    for name in ("hg", "resdcn18"):
        cfg = setup_cfg(f"configs/CenterNet/centernet_oap_{name}_coco.yaml", [])
        assert cfg.INPUT.DATASET_MAPPER_NAME == "CenterNetMapper"
    assert setup_cfg(SYNTH, []).INPUT.DATASET_MAPPER_NAME == "DatasetMapper"


def test_mapper_warps_clips_and_drops(monkeypatch, tmp_path):
    path = str(tmp_path / "a.png")
    cv2.imwrite(path, np.full((100, 200, 3), 100, np.uint8))
    cfg = _cfg("INPUT.CENTERNET_OAP.INPUT_RES", 128, "INPUT.CENTERNET_OAP.COLOR_AUG", False)
    mapper = build_mapper(cfg, True)
    # centre (100, 50), s = 128: k = 1, x' = x - 36, y' = y + 14
    monkeypatch.setattr(CenterNetAffine, "draw", lambda self, h, w: ((100.0, 50.0), 128.0, False))
    boxes = [(40, 10, 60, 30), (20, 20, 50, 40), (0, 0, 30, 10), (170, 50, 190, 60)]
    out = mapper(_dict(path, boxes))
    assert tuple(out["image"].shape) == (3, 128, 128)
    inst = out["instances"]
    # box 2 is clipped at x = 0, box 3 (x < 36) and box 4 (x' > 128) leave the output: dropped
    np.testing.assert_allclose(inst.gt_boxes.tensor.numpy(), [[4, 24, 24, 44], [0, 34, 14, 54]])
    assert inst.gt_classes.tolist() == [0, 1]
    img = out["image"].numpy()
    assert img[:, 64, 64].tolist() == [100, 100, 100] and img[:, 5, 64].tolist() == [0, 0, 0]
    monkeypatch.setattr(CenterNetAffine, "draw", lambda self, h, w: ((100.0, 50.0), 128.0, True))
    inst = mapper(_dict(path, boxes))["instances"]
    np.testing.assert_allclose(inst.gt_boxes.tensor.numpy()[:1], [[104, 24, 124, 44]])


@pytest.mark.parametrize("crowd_as_objects", [True, False])
def test_mapper_trains_on_crowd_boxes_as_objects(monkeypatch, tmp_path, crowd_as_objects):
    # The official ctdet loader takes every annotation of the image, crowd ones as ordinary boxes.
    path = str(tmp_path / "a.png")
    cv2.imwrite(path, np.full((100, 200, 3), 100, np.uint8))
    cfg = _cfg("INPUT.CENTERNET_OAP.INPUT_RES", 128, "INPUT.CENTERNET_OAP.COLOR_AUG", False,
               "INPUT.CENTERNET_OAP.CROWD_AS_OBJECTS", crowd_as_objects)  # fmt: skip
    monkeypatch.setattr(CenterNetAffine, "draw", lambda self, h, w: ((100.0, 50.0), 128.0, False))
    d = _dict(path, [(40, 10, 60, 30), (60, 20, 100, 60)])
    d["annotations"][1]["iscrowd"] = 1
    inst = build_mapper(cfg, True)(d)["instances"]
    boxes = [[4, 24, 24, 44], [24, 34, 64, 74]] if crowd_as_objects else [[4, 24, 24, 44]]
    np.testing.assert_allclose(inst.gt_boxes.tensor.numpy(), boxes)
    assert inst.gt_classes.tolist() == [0, 1][: len(boxes)]
    assert d["annotations"][1]["iscrowd"] == 1  # the dataset's dict untouched


def test_mapper_color_seeded(tmp_path):
    path = str(tmp_path / "a.png")
    cv2.imwrite(path, np.random.RandomState(0).randint(0, 255, (60, 80, 3)).astype(np.uint8))
    cfg = _cfg("INPUT.CENTERNET_OAP.INPUT_RES", 64)

    def run():
        np.random.seed(0)
        random.seed(0)
        mapper = CenterNetMapper(cfg, True, color_seed=7)
        return [mapper(_dict(path, [(10, 10, 40, 40)], 60, 80)) for _ in range(3)]

    a, b = run(), run()
    for x, y in zip(a, b):
        assert x["image"].dtype == torch.float32 and tuple(x["image"].shape) == (3, 64, 64)
        torch.testing.assert_close(x["image"], y["image"])
        torch.testing.assert_close(x["instances"].gt_boxes.tensor, y["instances"].gt_boxes.tensor)
    assert not torch.equal(a[0]["image"], a[1]["image"])
    # without colour: the warped uint8 image as float
    np.random.seed(0)
    plain = build_mapper(_cfg("INPUT.CENTERNET_OAP.INPUT_RES", 64,
                              "INPUT.CENTERNET_OAP.COLOR_AUG", False), True)  # fmt: skip
    first = plain(_dict(path, [(10, 10, 40, 40)], 60, 80))["image"]
    assert first.dtype == torch.uint8
    assert (a[0]["image"] - first.float()).abs().mean() < 0.5 * 255


def test_test_mode_unchanged(tmp_path):
    path = str(tmp_path / "a.png")
    cv2.imwrite(path, np.random.RandomState(0).randint(0, 255, (60, 80, 3)).astype(np.uint8))
    cfg = setup_cfg(COCO, [])
    ours = build_mapper(cfg, False)
    reference = build_mapper(setup_cfg(COCO, ["INPUT.DATASET_MAPPER_NAME", "DatasetMapper"]), False)
    d = {"file_name": path, "height": 60, "width": 80, "image_id": 0}
    assert torch.equal(ours(dict(d))["image"], reference(dict(d))["image"])
    assert isinstance(ours.mapper, CenterNetMapper) and isinstance(reference.mapper, DatasetMapper)
    assert not any(isinstance(a, CenterNetAffine) for a in ours.mapper.augmentations.augs)
    assert isinstance(ours.mapper.augmentations, T.AugmentationList)


# ---- optional: the official code --------------------------------------------------------------


@pytest.mark.skipif(not OFFICIAL, reason="set VP_OFFICIAL_CENTERNET_OAP to a CenterNet checkout")
@pytest.mark.parametrize("flip", [False, True])
def test_official_affine_and_warp(flip):
    from tests.official.centernet_oap import official_centernet_oap

    img = np.random.RandomState(2).randint(0, 255, (90, 140, 3)).astype(np.uint8)
    h, w = img.shape[:2]
    with official_centernet_oap(OFFICIAL) as ns:
        for cx, cy, factor in [(70, 45, 1.0), (40, 60, 0.6), (100, 30, 1.3)]:
            s = max(h, w) * factor
            # the official steps: mirror the image, move the centre to w - 1 - cx
            c = np.array([w - 1 - cx if flip else cx, cy], np.float32)
            trans = ns.get_affine_transform(c, s, 0, [128, 128])
            src = img[:, ::-1, :] if flip else img
            expected = cv2.warpAffine(src, trans, (128, 128), flags=cv2.INTER_LINEAR)
            m = centernet_affine_matrix((cx, cy), s, 128, 128, flip)
            box = np.array([5.0, 7.0, 50.0, 80.0])
            if flip:
                box[[0, 2]] = w - box[[2, 0]] - 1
            official_box = np.concatenate([trans @ [*box[:2], 1], trans @ [*box[2:], 1]])
            t = CenterNetAffineTransform(m, 128, 128)
            np.testing.assert_allclose(
                t.apply_box(np.array([[5.0, 7.0, 50.0, 80.0]]))[0], official_box, atol=1e-3
            )
            diff = np.abs(t.apply_image(img).astype(int) - expected.astype(int))
            assert diff.max() <= 1 and diff.mean() < 0.01
            if not flip:
                np.testing.assert_allclose(m, trans, atol=1e-4)


@pytest.mark.skipif(not OFFICIAL, reason="set VP_OFFICIAL_CENTERNET_OAP to a CenterNet checkout")
def test_official_color_aug_same_seeds():
    from tests.official.centernet_oap import official_centernet_oap

    image = np.random.RandomState(4).rand(32, 48, 3).astype(np.float32)
    with official_centernet_oap(OFFICIAL) as ns:
        for seed in range(6):
            expected = image.copy()
            random.seed(seed)
            ns.color_aug(np.random.RandomState(seed), expected, EIGEN_VALUES, EIGEN_VECTORS)
            random.seed(seed)
            ours = color_augment(image.copy(), np.random.RandomState(seed))
            np.testing.assert_allclose(ours, expected, atol=1e-5)
