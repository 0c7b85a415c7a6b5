"""RetinaFace: anchors vs the reference PriorBox, coding round trips, matching, OHEM, flip,
crop, mapper."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from detectron2.data import DatasetCatalog
from detectron2.structures import Boxes, ImageList, Instances, Keypoints
from detectron2.utils.events import EventStorage

from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.retinaface.mapper import RetinaFaceMapper, mirror, random_square_crop
from vision_plugins.retinaface.meta_arch import decode_landmarks, encode_landmarks

CONFIG = "configs/RetinaFace/retinaface_mnet025_synth_faces.yaml"


@pytest.fixture(scope="module")
def model():
    cfg = setup_cfg(CONFIG, ["DATALOADER.NUM_WORKERS", "0"])
    torch.manual_seed(0)
    return Trainer.build_model(cfg)


def _prior_box(h, w):
    """The reference PriorBox formula, absolute XYXY."""
    out = []
    for step, sizes in zip((8, 16, 32), ((16, 32), (64, 128), (256, 512))):
        for i in range(math.ceil(h / step)):
            for j in range(math.ceil(w / step)):
                for s in sizes:
                    cx, cy = (j + 0.5) * step, (i + 0.5) * step
                    out.append([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2])
    return torch.tensor(out)


@pytest.mark.parametrize("hw", [(37, 53), (64, 64), (181, 243)])
def test_anchors_equal_the_reference_prior_box_for_odd_sizes(model, hw):
    images = ImageList.from_tensors([torch.zeros(3, *hw)])
    with torch.no_grad():
        anchors, logits, deltas, landms = model.forward_raw(images)
    ref = _prior_box(*hw)
    assert anchors.shape == ref.shape and logits.shape[1] == len(ref)
    torch.testing.assert_close(anchors, ref, rtol=0, atol=1e-3)


def test_box_and_landmark_coding_round_trips(model):
    anchors = torch.tensor([[0.0, 0, 16, 16], [40, 20, 104, 84]])
    boxes = torch.tensor([[2.0, 1, 14, 17], [30, 30, 90, 70]])
    t = model.box2box_transform
    deltas = t.get_deltas(anchors, boxes)
    # reference encode: centre offset / (0.1 · prior size), log(size ratio) / 0.2
    np.testing.assert_allclose(deltas[0, :2], [0.0, 1 / 16 / 0.1], atol=1e-5)  # centre (8, 9)
    np.testing.assert_allclose(deltas[0, 2], math.log(12 / 16) / 0.2, atol=1e-5)
    torch.testing.assert_close(t.apply_deltas(deltas, anchors), boxes)
    points = torch.rand(2, 5, 2) * 80
    codes = encode_landmarks(points, anchors)
    np.testing.assert_allclose(codes[0, :2], (points[0, 0] - 8) / (0.1 * 16), rtol=1e-5)
    torch.testing.assert_close(decode_landmarks(codes, anchors), points)


def _gt(boxes, with_landmarks):
    inst = Instances((100, 100))
    inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
    inst.gt_classes = torch.zeros(len(boxes), dtype=torch.long)
    kp = torch.ones(len(boxes), 5, 3) * 2
    kp[~torch.tensor(with_landmarks, dtype=torch.bool), :, 2] = 0
    inst.gt_keypoints = Keypoints(kp)
    return inst


def test_matching_forced_matches_and_faces_without_landmarks(model):
    anchors = torch.tensor(
        [[0.0, 0, 16, 16], [8, 0, 24, 16], [50, 50, 66, 66], [80, 80, 112, 112]]
    )  # fmt: skip
    # face 0 = anchor 0 (IoU 1; anchor 1 has IoU 1/3 < 0.35: background); face 1 overlaps anchor 2
    # by 0.25 (< 0.35 but >= 0.2: forced); face 2 overlaps anchor 3 by < 0.2: never matched
    gt = _gt([[0, 0, 16, 16], [50, 50, 58, 66], [100, 100, 108, 108]], [True, False, True])
    labels, idx = model.match(anchors, gt)
    assert labels.tolist() == [1, 0, -1, 0]
    assert idx[0] == 0 and idx[2] == 1
    empty = _gt(np.zeros((0, 4)), [])
    assert model.match(anchors, empty)[0].tolist() == [0, 0, 0, 0]


def test_ohem_selects_seven_negatives_per_positive(model):
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(40, 2, generator=g) * 60 + 30  # 40 anchors far from the face
    anchors = torch.cat([torch.tensor([[0.0, 0, 16, 16]]), torch.cat([xy, xy + 8], 1)])
    logits = torch.randn(1, 41, 2, generator=g)
    deltas, landms = torch.zeros(1, 41, 4), torch.zeros(1, 41, 10)
    gt = _gt([[0, 0, 16, 16]], [True])
    losses = model.losses(anchors, logits, deltas, landms, [gt])
    mining = torch.logsumexp(logits[0], 1) - logits[0, :, 0]
    mining[0] = 0
    negatives = mining.argsort(descending=True)[:7]
    rows = torch.cat([logits[0, :1], logits[0, negatives]])
    expected = F.cross_entropy(rows, torch.tensor([1] + [0] * 7), reduction="sum")
    assert losses["loss_cls"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_mirror_swaps_eyes_and_mouth_corners():
    image = np.zeros((10, 20, 3), np.uint8)
    boxes = np.array([[2.0, 1, 6, 5]])
    points = np.arange(15, dtype=float).reshape(1, 5, 3)
    _, b, p = mirror(image, boxes, points)
    np.testing.assert_allclose(b, [[14, 1, 18, 5]])
    # new left eye = old right eye mirrored (x -> 20 - x); nose stays the nose
    np.testing.assert_allclose(p[0, 0], [20 - 3, 4, 5])
    np.testing.assert_allclose(p[0, 2], [20 - 6, 7, 8])
    np.testing.assert_allclose(p[0, 3], [20 - 12, 13, 14])


def test_square_crop_keeps_faces_by_centre_and_clamps_landmarks():
    image = np.zeros((100, 120, 3), np.uint8)
    boxes = np.array([[10.0, 10, 30, 30], [90, 90, 130, 110]])
    points = np.zeros((2, 5, 3))
    points[:, :, :2] = [[5, 5], [25, 12], [20, 20], [12, 28], [28, 28]]
    rng = np.random.default_rng(0)
    crop, b, p, keep, padded = random_square_crop(image, boxes, points, rng)
    side = crop.shape[0]
    assert crop.shape[0] == crop.shape[1] and not padded and 0 in keep
    assert (b >= 0).all() and (b <= side).all() and (p[:, :, :2] >= 0).all()
    assert (p[:, :, :2] <= side).all()


def test_mapper_train_and_test(model):
    cfg = setup_cfg(CONFIG, [])
    d = DatasetCatalog.get("vp_faces_train")[1]
    train = RetinaFaceMapper(cfg, is_train=True)(d)
    assert train["image"].shape == (3, 192, 192) and len(train["instances"]) >= 1
    assert train["instances"].gt_keypoints.tensor.shape[1:] == (5, 3)
    test = RetinaFaceMapper(cfg, is_train=False)(d)
    assert test["image"].shape == (3, d["height"], d["width"])  # no resize at test time
    model.train()
    with EventStorage():
        losses = model([train])
    assert set(losses) == {"loss_box_reg", "loss_cls", "loss_landmark"}
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        out = model([test])[0]["instances"]
    assert out.pred_keypoints.shape[1:] == (5, 3)
