"""The official YOLACT training augmentation (``vision_plugins/yolact/augment.py``): each
transform on hand-computed cases, the random draws' distributions on seeded runs, the mapper's
``"ssd"`` path, and (optional, ``VP_OFFICIAL_YOLACT``) the official ``SSDAugmentation`` pieces on
the same seeded draws."""

import os

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import BoxMode

from vision_plugins.engine import setup_cfg
from vision_plugins.yolact import YolactDatasetMapper
from vision_plugins.yolact.augment import (
    BoxAugInput,
    ExpandTransform,
    PhotometricDistort,
    PhotometricTransform,
    RandomMirror,
    SSDCropTransform,
    SSDRandomCrop,
    ZoomOut,
    build_ssd_augmentation,
    discard_small_boxes,
)

OFFICIAL = os.environ.get("VP_OFFICIAL_YOLACT")
SYNTH = "configs/YOLACT/yolact_R_18_FPN_synth_shapes.yaml"


def _ann(box, iscrowd=0):
    x1, y1, x2, y2 = box = [float(v) for v in box]  # detectron2 truncates integer boxes
    return {"bbox": list(box), "bbox_mode": BoxMode.XYXY_ABS, "category_id": 0, "iscrowd": iscrowd,
            "segmentation": [[x1, y1, x2, y1, x2, y2, x1, y2]]}  # fmt: skip


def _script(monkeypatch, ints=(), floats=()):
    """np.random.randint / uniform return the scripted values in order (arguments ignored)."""
    ints, floats = iter(ints), iter(floats)
    monkeypatch.setattr(np.random, "randint", lambda *a, **k: next(ints))
    monkeypatch.setattr(np.random, "uniform", lambda *a, **k: next(floats))


# ---- photometric distortion -------------------------------------------------------------------


def _pixel(rgb):
    return np.array(rgb, np.float32).reshape(1, 1, 3)


@pytest.mark.parametrize(
    "params, expected",
    [
        (dict(brightness=10.0), (110, 60, 30)),
        (dict(contrast=0.5, contrast_first=True), (50, 25, 10)),
        (dict(contrast=2.0, contrast_first=False), (200, 100, 40)),
        # HSV of (100, 50, 20): H = 22.5 deg, S = 0.8, V = 100
        (dict(saturation=0.5), (100, 75, 60)),  # S 0.4: min 60, G = 60 + 22.5 / 60 * 40
        (dict(hue=-30.0), (100, 20, 30)),  # H -7.5 -> 352.5: B = 20 + 7.5 / 60 * 80
        (dict(brightness=-10.0, contrast=2.0, contrast_first=True), (180, 80, 20)),
    ],
)
def test_photometric_transform_hand_cases(params, expected):
    args = dict(brightness=None, contrast=None, contrast_first=True, saturation=None, hue=None)
    args.update(params)
    out = PhotometricTransform(**args, image_format="RGB").apply_image(_pixel((100, 50, 20)))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], expected, atol=1e-3)
    bgr = PhotometricTransform(**args, image_format="BGR").apply_image(_pixel((20, 50, 100)))
    np.testing.assert_allclose(bgr[0, 0, ::-1], expected, atol=1e-3)


def test_photometric_draw_order(monkeypatch):
    # brightness on (uniform), contrast after the HSV part; saturation off, hue on, contrast on
    _script(monkeypatch, ints=[1, 0, 0, 1, 1], floats=[5.0, 12.0, 1.25])
    t = PhotometricDistort().get_transform(np.zeros((2, 2, 3), np.uint8))
    assert (t.brightness, t.contrast_first, t.saturation, t.hue, t.contrast) == (
        5.0, False, None, 12.0, 1.25)  # fmt: skip
    # contrast first: its coin and value come before saturation's
    _script(monkeypatch, ints=[0, 1, 1, 1, 0], floats=[0.75, 1.5])
    t = PhotometricDistort().get_transform(np.zeros((2, 2, 3), np.uint8))
    assert (t.brightness, t.contrast_first, t.contrast, t.saturation, t.hue) == (
        None, True, 0.75, 1.5, None)  # fmt: skip


def test_photometric_distribution():
    np.random.seed(0)
    ts = [PhotometricDistort().get_transform(np.zeros((1, 1, 3))) for _ in range(4000)]
    for name, lo, hi in [("brightness", -32, 32), ("contrast", 0.5, 1.5),
                         ("saturation", 0.5, 1.5), ("hue", -18, 18)]:  # fmt: skip
        v = np.array([getattr(t, name) for t in ts if getattr(t, name) is not None])
        assert abs(len(v) / len(ts) - 0.5) < 0.04, name
        assert v.min() >= lo and v.max() <= hi and abs(v.mean() - (lo + hi) / 2) < 0.05 * (hi - lo)
    assert abs(np.mean([t.contrast_first for t in ts]) - 0.5) < 0.04


# ---- zoom-out ---------------------------------------------------------------------------------


def test_expand_transform_hand_case():
    t = ExpandTransform(1, 2, 3, 0, 2, 2, fill=(1.0, 2.0, 3.0))
    img = np.full((2, 2, 3), 9, np.uint8)
    out = t.apply_image(img)
    assert out.shape == (4, 6, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[2:4, 1:3], 9)
    np.testing.assert_array_equal(out[0, 0], (1, 2, 3))
    np.testing.assert_array_equal(out[3, 5], (1, 2, 3))
    mask = t.apply_segmentation(np.ones((2, 2), np.uint8))
    assert mask.shape == (4, 6) and mask.sum() == 4 and mask[2:4, 1:3].all()
    np.testing.assert_array_equal(t.apply_box(np.array([[0.5, 0, 2, 1.5]])), [[1.5, 2, 3, 3.5]])
    (poly,) = t.apply_polygons([np.array([[0.0, 0], [2, 0], [2, 2]])])
    np.testing.assert_array_equal(poly, [[1, 2], [3, 2], [3, 4]])


def test_zoom_out_draws(monkeypatch):
    _script(monkeypatch, ints=[1])
    assert isinstance(ZoomOut((0, 0, 0)).get_transform(np.zeros((10, 20, 3))), T.NoOpTransform)
    # ratio 2.5, left 7.9 of [0, 30], top 3.2 of [0, 15]: canvas int(25) x int(50)
    _script(monkeypatch, ints=[0], floats=[2.5, 7.9, 3.2])
    t = ZoomOut((0, 0, 0)).get_transform(np.zeros((10, 20, 3)))
    assert (t.x0, t.y0, t.x1, t.y1) == (7, 3, 50 - 20 - 7, 25 - 10 - 3)


def test_zoom_out_distribution():
    np.random.seed(0)
    img = np.zeros((30, 40, 3), np.uint8)
    ts = [ZoomOut((0, 0, 0)).get_transform(img) for _ in range(3000)]
    pads = [t for t in ts if isinstance(t, ExpandTransform)]
    assert abs(len(pads) / len(ts) - 0.5) < 0.04
    ratios = np.array([(t.x0 + t.x1 + 40) / 40 for t in pads])
    assert ratios.min() >= 1 and ratios.max() <= 4 and abs(ratios.mean() - 2.5) < 0.06
    assert all(t.x1 >= 0 and t.y1 >= 0 for t in pads)  # the image lies inside the canvas
    lefts = np.array([t.x0 / max(t.x0 + t.x1, 1) for t in pads])  # position in the free room
    assert abs(lefts.mean() - 0.5) < 0.03


# ---- SSD random crop --------------------------------------------------------------------------


def test_crop_transform_boxes_polygons_masks():
    t = SSDCropTransform(10, 20, 30, 40, 100, 100, keep=[True])
    a = utils.transform_instance_annotations(_ann((0, 30, 25, 90)), T.TransformList([t]), (40, 30))
    np.testing.assert_allclose(a["bbox"], [0, 10, 15, 40])  # clipped to the crop, shifted
    (poly,) = a["segmentation"]
    np.testing.assert_allclose(
        np.sort(poly.reshape(-1, 2), 0), [[0, 10], [0, 10], [15, 40], [15, 40]]
    )
    # a concave polygon (U shape) clipped through both arms keeps both: area 2 x 10 x 20
    u = np.array([[10, 20], [40, 20], [40, 60], [30, 60], [30, 30], [20, 30], [20, 60], [10, 60]])
    (clipped,) = SSDCropTransform(0, 40, 50, 50, 50, 100, keep=[True]).apply_polygons([u])
    x, y = clipped[:, 0], clipped[:, 1]
    assert abs(0.5 * (x * np.roll(y, 1) - np.roll(x, 1) * y).sum()) == pytest.approx(400)
    np.testing.assert_allclose([x.min(), y.min(), x.max(), y.max()], [10, 0, 40, 20])
    assert SSDCropTransform(0, 0, 5, 5, 50, 50, [True]).apply_polygons([u]) == []
    seg = np.arange(100 * 100).reshape(100, 100)
    np.testing.assert_array_equal(t.apply_segmentation(seg), seg[20:60, 10:40])


def test_crop_draws_and_centre_rule(monkeypatch):
    img = np.zeros((100, 200, 3))
    boxes = np.array([[0, 0, 50, 40], [100, 50, 180, 90], [150, 0, 200, 20]], float)
    crowd = np.array([False, False, True])
    # mode 2 (0.3); try 1: h / w = 90 / 60 ok, left 30.7, top 5.2 -> rect (30, 5, 90, 95):
    # only... no centre inside (25, 20), (140, 70), (175, 10) -> rejected; try 2: w 100, h 30
    # fails the aspect ratio (no offset drawn); try 3: w 100 h 80, left 99.5 top 0.6 -> rect
    # (99, 0, 199, 80): centres (140, 70) and the crowd's (175, 10) inside
    _script(monkeypatch, ints=[2], floats=[60, 90, 30.7, 5.2, 100, 30, 100, 80, 99.5, 0.6])
    t = SSDRandomCrop().get_transform(img, boxes, crowd)
    assert (t.x0, t.y0, t.w, t.h) == (99, 0, 100, 80)
    np.testing.assert_array_equal(t.keep, [False, True, True])
    # only a crowd centre inside -> rejected; then mode 0 (None): no crop
    _script(monkeypatch, ints=[1, 0], floats=[100, 60, 99.5, 0.6] + [30, 90] * 49)
    t = SSDRandomCrop().get_transform(img, boxes[[0, 2]], np.array([False, True]))
    assert isinstance(t, T.NoOpTransform)
    # no non-crowd box: never cropped, nothing drawn
    _script(monkeypatch)
    assert isinstance(SSDRandomCrop().get_transform(img, boxes[2:], crowd[2:]), T.NoOpTransform)


def _crops(n, iou_check=False, min_ious=(None, 0.1, 0.3, 0.7, 0.9, 0.0), seed=0):
    np.random.seed(seed)
    img = np.zeros((200, 300, 3))
    boxes = np.array([[20, 30, 120, 150], [150, 40, 280, 190], [100, 100, 140, 130]], float)
    crop = SSDRandomCrop(min_ious=min_ious, iou_check=iou_check)
    return boxes, [crop.get_transform(img, boxes, np.zeros(3, bool)) for _ in range(n)]


def _iou(boxes, t):
    rect = np.array([t.x0, t.y0, t.x0 + t.w, t.y0 + t.h], float)
    lt, rb = np.maximum(boxes[:, :2], rect[:2]), np.minimum(boxes[:, 2:], rect[2:])
    inter = np.prod(np.clip(rb - lt, 0, None), 1)
    return inter / (np.prod(boxes[:, 2:] - boxes[:, :2], 1) + t.w * t.h - inter)


def test_crop_distribution():
    boxes, ts = _crops(3000)
    crops = [t for t in ts if isinstance(t, SSDCropTransform)]
    assert abs(1 - len(crops) / len(ts) - 1 / 6) < 0.03  # mode None
    w = np.array([t.w for t in crops]) / 300
    h = np.array([t.h for t in crops]) / 200
    assert w.min() >= 0.3 - 1 / 300 and w.max() <= 1 and h.min() >= 0.3 - 1 / 200 and h.max() <= 1
    aspect = np.array([t.h / t.w for t in crops])
    assert aspect.min() >= 0.5 - 0.02 and aspect.max() <= 2 + 0.05
    assert min(t.x0 for t in crops) >= 1 - 1e-9 or all(t.w > 299 for t in crops if t.x0 < 1)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    for t in crops:  # keep = centre strictly inside, at least one kept
        inside = ((centres > [t.x0, t.y0]) & (centres < [t.x0 + t.w, t.y0 + t.h])).all(1)
        np.testing.assert_array_equal(t.keep, inside)
        assert t.keep.any()
    # the official IoU check never rejects: with mode 0.9 only, patches below 0.9 are kept ...
    boxes, ts = _crops(300, min_ious=(0.9,))
    assert np.mean([_iou(boxes, t).max() < 0.9 for t in ts]) > 0.5
    # ... with CROP_IOU_CHECK every patch has a box with IoU >= the mode's minimum
    for m in (0.3, 0.7):
        boxes, ts = _crops(300, iou_check=True, min_ious=(m,))
        assert all(_iou(boxes, t).max() >= m for t in ts)


def test_random_mirror(monkeypatch):
    _script(monkeypatch, ints=[1, 0])
    t = RandomMirror().get_transform(np.zeros((5, 40, 3)))
    np.testing.assert_array_equal(t.apply_box(np.array([[10.0, 1, 15, 4]])), [[25, 1, 30, 4]])
    assert isinstance(RandomMirror().get_transform(np.zeros((5, 40, 3))), T.NoOpTransform)


def test_discard_small_boxes():
    boxes = [[0, 0, 1, 1], [0, 0, 4 / 550, 1], [5, 5, 5.01, 6], [0, 0, 2, 0]]
    np.testing.assert_array_equal(discard_small_boxes(boxes, 4 / 550), [True, False, True, False])


# ---- the mapper -------------------------------------------------------------------------------


def _cfg(*opts):
    return setup_cfg(SYNTH, ["INPUT.YOLACT.AUGMENT", "ssd", "MODEL.YOLACT.MAX_SIZE", 100, *opts])


def test_configs():
    coco = setup_cfg("configs/YOLACT/yolact_R_50_FPN_550_coco.yaml", [])
    assert coco.INPUT.YOLACT.AUGMENT == "ssd"
    assert setup_cfg(SYNTH, []).INPUT.YOLACT.AUGMENT == "flip"  # unchanged synthetic training
    names = [type(a).__name__ for a in build_ssd_augmentation(coco)]
    assert names == ["PhotometricDistort", "ZoomOut", "SSDRandomCrop", "RandomMirror",
                     "FixedSizeResize"]  # fmt: skip
    assert build_ssd_augmentation(coco)[2].min_ious == (None, 0.1, 0.3, 0.7, 0.9, 0.0)
    with pytest.raises(ValueError, match="AUGMENT"):
        YolactDatasetMapper(_cfg("INPUT.YOLACT.AUGMENT", "crop"), is_train=True)


def test_mapper_ssd_crop_keeps_centres_and_crowds(monkeypatch, tmp_path):
    path = str(tmp_path / "a.png")
    cv2.imwrite(path, np.full((100, 200, 3), 128, np.uint8))
    cfg = _cfg("INPUT.YOLACT.PHOTOMETRIC", False, "INPUT.YOLACT.EXPAND", False,
               "INPUT.YOLACT.MIRROR", False)  # fmt: skip
    mapper = YolactDatasetMapper(cfg, is_train=True)
    d = {"file_name": path, "image_id": 1, "height": 100, "width": 200,
         "annotations": [_ann((0, 0, 50, 40)), _ann((100, 50, 180, 90)), _ann((150, 0, 200, 20), 1),
                         _ann((0, 60, 40, 100), 1)]}  # fmt: skip
    # rect (99, 0, 199, 80) as in test_crop_draws_and_centre_rule, then resized to 100²
    _script(monkeypatch, ints=[2], floats=[100, 80, 99.5, 0.6])
    out = mapper(d)
    assert out["image"].shape == (3, 100, 100)
    torch.testing.assert_close(
        out["instances"].gt_boxes.tensor, torch.tensor([[1.0, 62.5, 81, 100]])
    )
    torch.testing.assert_close(out["crowd_boxes"], torch.tensor([[51.0, 0, 100, 25]]))
    # an image left with no annotation after the discard returns None (the loader resamples)
    d2 = dict(d, annotations=[_ann((100, 50, 100.001, 90))])
    _script(monkeypatch, ints=[0])
    assert mapper(d2) is None
    # so does an image without annotations (it gave a dict without "instances": KeyError in
    # the model's losses on vp_shapes, whose config keeps empty images)
    assert mapper(dict(d, annotations=[])) is None


def test_mapper_ssd_seeded_runs_are_consistent(tmp_path):
    path = str(tmp_path / "a.png")
    cv2.imwrite(path, np.random.RandomState(0).randint(0, 255, (60, 80, 3)).astype(np.uint8))
    mapper = YolactDatasetMapper(_cfg(), is_train=True)
    d = {
        "file_name": path,
        "image_id": 1,
        "height": 60,
        "width": 80,
        "annotations": [_ann((5, 5, 40, 30)), _ann((30, 20, 75, 58)), _ann((0, 30, 20, 60), 1)],
    }
    np.random.seed(3)
    for _ in range(30):
        out = mapper(dict(d))
        inst = out["instances"]
        assert out["image"].shape == (3, 100, 100) and torch.isfinite(out["image"]).all()
        assert len(inst) >= 1 and len(inst.gt_masks) == len(inst)
        b = inst.gt_boxes.tensor
        assert (b[:, 2:] > b[:, :2]).all() and b.min() >= 0 and b.max() <= 100


def test_test_mode_unchanged(tmp_path):
    path = str(tmp_path / "a.png")
    cv2.imwrite(path, np.random.RandomState(0).randint(0, 255, (60, 80, 3)).astype(np.uint8))
    d = {"file_name": path, "image_id": 1, "height": 60, "width": 80, "annotations": []}
    a = YolactDatasetMapper(_cfg(), is_train=False)(dict(d))
    b = YolactDatasetMapper(_cfg("INPUT.YOLACT.AUGMENT", "flip"), is_train=False)(dict(d))
    torch.testing.assert_close(a["image"], b["image"], rtol=0, atol=0)


# ---- optional: the official SSDAugmentation pieces --------------------------------------------


@pytest.mark.skipif(not OFFICIAL, reason="set VP_OFFICIAL_YOLACT to a yolact checkout")
def test_official_ssd_augmentation_same_draws():
    from tests.official.yolact import official_yolact_augmentations

    rs = np.random.RandomState(1)
    h, w = 60, 80
    rgb = rs.randint(0, 256, (h, w, 3)).astype(np.uint8)
    boxes = np.array([[5, 5, 40, 30], [30, 20, 75, 58], [50, 2, 70, 12], [0, 30, 20, 60]], float)
    crowd = np.array([False, False, False, True])  # the official loader puts crowds last
    masks = np.zeros((4, h, w), np.uint8)
    for m, (x1, y1, x2, y2) in zip(masks, boxes.astype(int)):
        m[y1:y2, x1:x2] = 1
    cfg = setup_cfg("configs/YOLACT/yolact_R_50_FPN_550_coco.yaml", [])
    ours = T.AugmentationList(build_ssd_augmentation(cfg)[:-1])  # the resize is FixedSizeResize's
    with official_yolact_augmentations(OFFICIAL) as A:
        official = A.Compose([A.ConvertFromInts(), A.PhotometricDistort(), A.Expand(A.MEANS),
                              A.RandomSampleCrop(), A.RandomMirror()])  # fmt: skip
        crops = 0
        for seed in range(40):
            np.random.seed(seed)
            labels = {"labels": np.array([0, 1, 2, -1]), "num_crowds": 1}
            o_img, o_masks, o_boxes, o_labels = official(
                rgb[:, :, ::-1].copy(), masks.copy(), boxes.copy(), labels
            )
            np.random.seed(seed)
            aug = BoxAugInput(rgb, boxes=boxes, is_crowd=crowd)
            tfms = ours(aug)
            keep = np.ones(4, bool)
            for t in tfms.transforms:
                if isinstance(t, SSDCropTransform):
                    keep, crops = t.keep, crops + 1
            np.testing.assert_allclose(aug.image, o_img[:, :, ::-1], atol=1e-3)
            np.testing.assert_array_equal(o_labels["labels"], np.array([0, 1, 2, -1])[keep])
            assert o_labels["num_crowds"] == (crowd & keep).sum()
            ih, iw = aug.image.shape[:2]
            b = np.clip(tfms.apply_box(boxes[keep]), 0, [iw, ih, iw, ih])
            np.testing.assert_allclose(b, o_boxes, atol=1e-6)
            m = np.stack([tfms.apply_segmentation(x) for x in masks[keep]])
            np.testing.assert_array_equal(m, o_masks)
        assert crops > 10
