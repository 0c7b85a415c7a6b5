"""Top-down mapper, StackedHourglassPose and KeypointRegressionPose: hand-computed values."""

import cv2
import numpy as np
import pytest
import torch
from detectron2.layers import ShapeSpec
from detectron2.structures import BoxMode
from detectron2.utils.events import EventStorage

from vision_plugins.data.mpii import MPII_FLIP_INDICES
from vision_plugins.engine import Predictor, setup_cfg
from vision_plugins.layers import flip_average_heatmaps
from vision_plugins.pose_hourglass import KeypointRegressionPose, StackedHourglassPose
from vision_plugins.pose_hourglass.backbone import PoseHourglassBackbone
from vision_plugins.pose_hourglass.mapper import TopDownPoseMapper, topdown_affine


def test_topdown_affine_hand_values():
    m = topdown_affine((50, 40), 100, 0, 128)  # the 100 px square around (50, 40) -> 128²
    apply = lambda p: m[:, :2] @ np.asarray(p, float) + m[:, 2]  # noqa: E731
    np.testing.assert_allclose(apply((50, 40)), (64, 64))
    np.testing.assert_allclose(apply((0, -10)), (0, 0), atol=1e-12)
    np.testing.assert_allclose(apply((100, 90)), (128, 128))
    m = topdown_affine((50, 40), 100, 90, 128)  # rotated 90°: +x in the image -> -y in the crop
    np.testing.assert_allclose(m[:, :2] @ (60.0, 40.0) + m[:, 2], (64, 64 - 12.8), atol=1e-12)


def _mapper(**kw):
    args = dict(is_train=True, image_format="RGB", input_res=64, output_res=16, sigma=1.0,
                scale_padding=1.0, center_shift=0.0, rotation=0.0, scale_range=(1.0, 1.0),
                flip_prob=0.0, flip_indices=list(MPII_FLIP_INDICES))  # fmt: skip
    args.update(kw)
    return TopDownPoseMapper(**args)


@pytest.fixture
def sample(tmp_path):
    path = str(tmp_path / "img.png")
    cv2.imwrite(path, np.zeros((100, 120, 3), np.uint8))
    kps = np.zeros((16, 3))
    kps[:, 2] = 2
    kps[:, :2] = (40, 30)  # every joint at the crop centre ...
    kps[5] = (50.5, 37.5, 2)  # left_ankle
    kps[0] = (20, 20, 0)  # right_ankle not annotated
    kps[9] = (200, 30, 2)  # head_top outside the crop
    ann = {"center": [40, 30], "scale": 0.4, "keypoints": kps.ravel().tolist()}
    return {"file_name": path, "image_id": 7, "height": 100, "width": 120, "annotations": [ann]}


def test_mapper_crop_keypoints_and_targets(sample):
    out = _mapper()(sample)
    # crop: the 80 px square around (40, 30) = [0, -10, 80, 70] -> 64²:
    # x' = 0.8 x, y' = 0.8 (y + 10)
    assert out["crop_box"] == [0.0, -10.0, 80.0, 70.0]
    assert out["image"].shape == (3, 64, 64)
    kp = out["gt_keypoints"].numpy()
    np.testing.assert_allclose(kp[5], (40.4, 38.0, 2.0), rtol=1e-6)
    assert kp[0, 2] == 0 and kp[9, 2] == 0  # not annotated; outside the crop
    hm = out["gt_heatmaps"]
    assert hm.shape == (16, 16, 16)
    assert hm[0].abs().sum() == 0 and hm[9].abs().sum() == 0
    # joint 5 at heatmap (10.1, 9.5): the official kernel peaks (value 1) at pixel (row 9, col 10)
    assert hm[5, 9, 10] == 1.0 and int(hm[5].argmax()) == 9 * 16 + 10
    assert hm[5, 9, 10 + 5] == 0  # the 9x9 kernel (radius 4) ends at column 14


def test_official_crop_from_raw_mpii_annotations(sample):
    # MPII val person "005808361.jpg": raw annotation centre (966, 340), scale 4.718488; the
    # official annot/valid.h5 stores centre (966, 410.7773184) and scale 5.89810987, cropped as
    # the 200 * scale square -- our defaults (padding 1.25, shift 15) must give the same square
    sample["annotations"][0].update(center=[966, 340], scale=4.718488)
    out = _mapper(scale_padding=1.25, center_shift=15.0, is_train=False)(sample)
    side = 200 * 5.89810987
    expected = [966 - side / 2, 410.7773184 - side / 2, 966 + side / 2, 410.7773184 + side / 2]
    np.testing.assert_allclose(out["crop_box"], expected, atol=1e-3)


def test_coco_style_bbox_is_the_person_square(sample):
    ann = sample["annotations"][0]
    del ann["center"], ann["scale"]
    ann.update(bbox=[10, 0, 50, 60], bbox_mode=BoxMode.XYWH_ABS)  # centre (35, 30), side 60
    assert _mapper()(sample)["crop_box"] == [5.0, 0.0, 65.0, 60.0]
    del ann["bbox"]
    with pytest.raises(ValueError, match="img.png.*'center' and 'scale'.*'bbox'"):
        _mapper()(sample)


def test_mapper_flip_swaps_left_and_right(sample):
    out = _mapper(flip_prob=1.0)(sample)
    kp = out["gt_keypoints"].numpy()
    # left_ankle (5) becomes right_ankle (0), mirrored: x' = 64 - 40.4
    np.testing.assert_allclose(kp[0], (64 - 40.4, 38.0, 2.0), rtol=1e-6)
    assert kp[5, 2] == 0  # the former right_ankle was not annotated


def _model(cls=StackedHourglassPose, input_res=64, **kw):
    torch.manual_seed(0)
    bb = PoseHourglassBackbone(nstack=2, inp_dim=16, oup_dim=16)
    return cls(backbone=bb, pixel_mean=[0.0] * 3, pixel_std=[255.0] * 3, input_res=input_res,
               flip_test=False, flip_indices=list(MPII_FLIP_INDICES), **kw)  # fmt: skip


def test_postprocess_maps_decoded_peaks_back_to_the_image():
    model = _model().eval()
    hm = torch.full((1, 16, 16, 16), -1.0)
    hm[0, :, 5, 3] = 1.0  # peak at column 3, row 5 of every joint
    hm[0, :, 5, 4] = 0.5  # right neighbour higher than the left (-1): x + 0.25
    hm[0, :, 6, 3] = 0.5  # lower neighbour higher: y + 0.25
    x = {"height": 100, "width": 120, "crop_box": [10.0, 20.0, 74.0, 84.0]}
    inst = model.postprocess(hm, [x])[0]["instances"]
    # heatmap (3.75, 5.75) -> input x4 (15, 23) -> crop box of side 64 = input_res: + (10, 20)
    np.testing.assert_allclose(inst.pred_keypoints[0, 0].numpy(), (25.0, 43.0, 1.0))
    assert inst.image_size == (100, 120) and inst.pred_heatmaps.shape == (1, 16, 16, 16)


def test_training_loss_is_the_mean_of_the_stacks_mse():
    model = _model(input_res=128).train()  # batch statistics need > 1x1 at the hourglass bottom
    image = torch.randint(0, 256, (3, 128, 128), dtype=torch.uint8)
    target = torch.rand(16, 32, 32)
    losses = model([{"image": image, "gt_heatmaps": target}])
    with torch.no_grad():
        stacks = model.backbone(image[None].float() / 255)
    expected = sum(((h[0] - target) ** 2).mean() for h in stacks.values()) / 2
    torch.testing.assert_close(losses["loss_heatmap"], expected)


def test_regression_loss_is_l1_on_annotated_joints():
    model = _model(KeypointRegressionPose, input_res=128, num_keypoints=16).train()
    with torch.no_grad():
        model.regressor.weight.zero_()
        model.regressor.bias.fill_(0.5)  # every joint predicted at (64, 64) of the 128² crop
    gt = torch.zeros(16, 3)
    gt[:, :2] = 64.0
    gt[0] = torch.tensor([96.0, 32.0, 2.0])  # off by (+0.25, -0.25) in normalised units
    gt[1] = torch.tensor([0.0, 0.0, 0.0])  # not annotated: ignored
    gt[2:, 2] = 2
    image = torch.zeros(3, 128, 128, dtype=torch.uint8)
    with EventStorage():
        loss = model([{"image": image, "gt_keypoints": gt}])["loss_keypoint_l1"]
    # mean over 15 annotated joints x 2 coordinates: (0.25 + 0.25) / 30
    torch.testing.assert_close(loss, torch.tensor(0.5 / 30))


@pytest.mark.parametrize("meta_arch", ["StackedHourglassPose", "KeypointRegressionPose"])
def test_predictor_on_a_raw_image(meta_arch):
    cfg = setup_cfg(
        "configs/StackedHourglass/shg_2stack_synth_pose_mpii.yaml",
        ["MODEL.META_ARCHITECTURE", meta_arch, "MODEL.POSE_HOURGLASS.INP_DIM", 16],
    )
    predictor = Predictor(cfg)
    image = np.random.RandomState(0).randint(0, 255, (100, 60, 3), dtype=np.uint8)
    inst = predictor(image)["instances"]
    assert inst.image_size == (100, 60)
    # the whole image as a centred square of side 100
    assert inst.pred_boxes.tensor[0].tolist() == [-20.0, 0.0, 80.0, 100.0]
    kp = inst.pred_keypoints[0]
    assert kp.shape == (16, 3)
    if meta_arch == "StackedHourglassPose":  # heatmap peaks are pixel centres of the 32² map
        assert (kp[:, 0] >= -20).all() and (kp[:, 0] <= 80).all()
        assert (kp[:, 1] >= 0).all() and (kp[:, 1] <= 100).all()


def test_backbone_feature_channels():
    bb = PoseHourglassBackbone(nstack=1, inp_dim=24, oup_dim=3).eval()
    out, feature = bb.forward_features(torch.rand(1, 3, 64, 64))
    assert bb.feature_channels == 24 and feature.shape == (1, 24, 16, 16)
    assert list(out) == ["hm0"] and isinstance(bb.output_shape()["hm0"], ShapeSpec)


def test_flip_test_averages_with_the_mirrored_input():
    model = _model()
    model.flip_test = True
    model.eval()
    image = torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
    x = {"image": image, "height": 64, "width": 64}
    got = model([x])[0]["instances"].pred_heatmaps[0]
    with torch.no_grad():
        plain = model.backbone(image[None].float() / 255)["hm1"]
        mirrored = model.backbone(image[None].flip(-1).float() / 255)["hm1"]
    expected = flip_average_heatmaps(plain, mirrored, list(MPII_FLIP_INDICES))[0]
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
