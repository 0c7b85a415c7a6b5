"""Every YAML in configs/ loads (with the project's keys) and builds a model that runs on CPU."""

import glob
import os

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances, Keypoints, PolygonMasks
from detectron2.utils.events import EventStorage

from vision_plugins.data import build_mapper
from vision_plugins.engine import check_datasets, setup_cfg
from vision_plugins.model_zoo import get_config_file, list_config_files

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(
    os.path.relpath(p, os.path.join(REPO, "configs"))
    for p in glob.glob(os.path.join(REPO, "configs", "**", "*.yaml"), recursive=True)
)


def test_all_configs_are_shipped():
    assert CONFIGS, "no configs found"
    assert list_config_files() == CONFIGS
    for rel in CONFIGS:
        assert os.path.samefile(get_config_file(rel), os.path.join(REPO, "configs", rel))


def _detection_batches(cfg, h=64, w=80):
    """One image with one object carrying every annotation type the config asks for."""
    inst = Instances((h, w))
    inst.gt_boxes = Boxes(torch.tensor([[10.0, 8.0, 60.0, 56.0]]))
    inst.gt_classes = torch.tensor([0])
    if cfg.MODEL.MASK_ON:
        inst.gt_masks = PolygonMasks([[np.array([10, 8, 60, 8, 60, 56, 10, 56], dtype=float)]])
    if cfg.MODEL.KEYPOINT_ON:
        k = cfg.MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS
        xy = torch.stack([torch.linspace(12, 58, k), torch.linspace(10, 54, k)], dim=1)
        inst.gt_keypoints = Keypoints(torch.cat([xy, torch.full((k, 1), 2.0)], dim=1)[None])
    image = torch.randint(0, 256, (3, h, w), dtype=torch.uint8).float()
    if cfg.MODEL.META_ARCHITECTURE == "CenterNetOAP":
        test = {"image": image, "height": h, "width": w}
        return [dict(test, instances=inst)], [test], {"loss_hm", "loss_wh", "loss_off"}
    if cfg.MODEL.META_ARCHITECTURE in ("CornerNet", "CenterNetTriplet"):
        test = {"image": image, "height": h, "width": w}
        expected = {"loss_focal", "loss_pull", "loss_push", "loss_off"}
        return [dict(test, instances=inst)], [test], expected
    if cfg.MODEL.META_ARCHITECTURE in ("YOLACT", "YolactEdge"):
        expected = {"loss_box", "loss_cls", "loss_mask", "loss_semseg"}
        expected |= {"loss_maskiou"} if cfg.MODEL.YOLACT.MASKIOU.ENABLED else set()
        test = {"image": image, "height": h, "width": w}
        return [dict(test, instances=inst)], [test], expected
    expected = {"loss_rpn_cls", "loss_cls", "loss_box_reg"}
    expected |= {"loss_mask"} if cfg.MODEL.MASK_ON else set()
    expected |= {"loss_keypoint"} if cfg.MODEL.KEYPOINT_ON else set()
    test = {"image": image, "height": h, "width": w}
    return [dict(test, instances=inst)], [test], expected


def _face_batches(cfg):
    """A vp_faces sample through the config's own mapper (WIDER FACE is not available here)."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.INPUT.RETINAFACE.IMAGE_SIZE = 128
    d = DatasetCatalog.get("vp_faces_train")[1]
    train, test = build_mapper(cfg, True)(d), build_mapper(cfg, False)(d)
    return [train], [test], {"loss_box_reg", "loss_cls", "loss_landmark"}


def _pose_batches(cfg):
    """A vp_pose_mpii sample through the config's own mapper (the official configs' MPII is
    not available here; the synthetic set has the same format)."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.DATASETS.TRAIN = cfg.DATASETS.TEST = ("vp_pose_mpii_train",)
    d0, d1 = DatasetCatalog.get("vp_pose_mpii_train")[:2]
    # two training samples: at 64² crops the innermost hourglass level is 1 x 1 (BatchNorm needs
    # more than one value per channel in training mode)
    train = [build_mapper(cfg, True)(d) for d in (d0, d1)]
    test = build_mapper(cfg, False)(d0)
    loss = {"StackedHourglassPose": "loss_heatmap", "KeypointRegressionPose": "loss_keypoint_l1"}
    return train, [test], {loss[cfg.MODEL.META_ARCHITECTURE]}


def _densepose_batches(cfg):
    """A vp_densepose sample through DensePoseUVMapper (DensePose-COCO is not available here)."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.DATASETS.TRAIN = ("vp_densepose_train",)
    d = next(d for d in DatasetCatalog.get("vp_densepose_train") if d["annotations"])
    train, test = build_mapper(cfg, True)(d), build_mapper(cfg, False)(d)
    expected = {"loss_cls", "loss_densepose_I", "loss_densepose_U", "loss_densepose_S"}
    return [train], [test], expected


def _panoptic_batches(cfg):
    """A vp_panoptic sample through PanopticMapper (COCO / Cityscapes are not available here)."""
    d = DatasetCatalog.get("vp_panoptic_train")[1]
    train, test = build_mapper(cfg, True)(d), build_mapper(cfg, False)(d)
    expected = {"loss_rpn_cls", "loss_cls", "loss_mask", "loss_sem_seg", "loss_panoptic"}
    return [train], [test], expected


def _video_batches(cfg):
    """A vp_video_panoptic training sample (target + reference) and a test frame through
    VideoPanopticMapper (Cityscapes-VPS is not available here), at the synthetic frames' own
    128x192 size."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN = (128,), 192
    cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING = "choice"
    cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = 128, 192
    cfg.INPUT.CROP.ENABLED = False
    mapper = build_mapper(cfg, True)
    sample = mapper.prepare_dataset(DatasetCatalog.get("vp_video_panoptic_train"))[1]
    train = mapper(sample)
    test = build_mapper(cfg, False)(DatasetCatalog.get("vp_video_panoptic_val")[1])
    expected = {"loss_rpn_cls", "loss_cls", "loss_mask", "loss_sem_seg", "loss_panoptic"}
    if "track" in cfg.MODEL.VPSNET.MODE:
        expected.add("loss_track")
    return [train], [test], expected


def _yolact_edge_video_batches(cfg):
    """A vp_video_instances training pair through YolactEdgeVideoMapper for the flow / joint
    stages (frame + reference, + flow), and a test frame of a video."""
    mapper = build_mapper(cfg, True)
    train = mapper(mapper.prepare_dataset(DatasetCatalog.get("vp_video_instances_train"))[0])
    test = build_mapper(cfg, False)(DatasetCatalog.get("vp_video_instances_val")[0])
    yolact = {"loss_box", "loss_cls", "loss_mask", "loss_semseg"}
    if cfg.MODEL.YOLACT_EDGE.TRAIN_STAGE == "flow":
        return [train], [test], {"loss_flow"}
    warp = {"loss_warp_" + k[len("loss_") :] for k in yolact}
    return [train], [test], yolact | warp | {"loss_fm"}


def _translation_batches(cfg):
    """A sample of the synthetic set of the model's kind (paired for Pix2Pix, unpaired for
    CycleGAN) through the config's own mapper (facades / horse2zebra are not available here);
    the expected loss terms of both players."""
    if cfg.MODEL.META_ARCHITECTURE == "Pix2Pix":
        d = DatasetCatalog.get("vp_pix2pix_train")[0]
        expected = {"loss_D_fake", "loss_D_real", "loss_G_GAN", "loss_G_L1"}
    else:
        d = DatasetCatalog.get("vp_cyclegan_train")[0]
        expected = {"loss_G_A", "loss_G_B", "loss_cycle_A", "loss_cycle_B", "loss_D_A", "loss_D_B"}
        expected |= {"loss_idt_A", "loss_idt_B"} if cfg.MODEL.GAN.LOSS.LAMBDA_IDT > 0 else set()
    train, test = build_mapper(cfg, True)(d), build_mapper(cfg, False)(d)
    return [train], [test], expected


def _two_player_losses(model, batch):
    """One iteration's loss terms of both players, in the model's step order (no update)."""
    model(batch, phase="generate")
    losses = {}
    for player in model.step_order:
        losses.update(model(batch, phase=player))
    return losses


@pytest.mark.parametrize("rel", [c for c in CONFIGS if not os.path.basename(c).startswith("Base-")])
def test_config_builds_trains_and_infers_on_cpu(rel):
    cfg = setup_cfg(os.path.join("configs", rel), ["MODEL.WEIGHTS", "", "MODEL.DEVICE", "cpu"])
    check_datasets(cfg)  # names registered; NUM_CLASSES matches the training set
    torch.manual_seed(0)
    model = build_model(cfg)
    arch = cfg.MODEL.META_ARCHITECTURE
    pose = arch in ("StackedHourglassPose", "KeypointRegressionPose")
    if pose:
        train, test, expected = _pose_batches(cfg)
    elif cfg.MODEL.META_ARCHITECTURE == "RetinaFace":
        train, test, expected = _face_batches(cfg)
    elif arch in ("Pix2Pix", "CycleGAN"):
        train, test, expected = _translation_batches(cfg)
    elif arch in ("SuperResolution", "SRGAN", "ESRGAN", "FastNeuralStyle"):
        pytest.skip(
            "tests/super_resolution/test_sr_configs.py and "
            "tests/fast_neural_style/test_style_configs.py build, train and infer every "
            "configs/SuperResolution and configs/FastNeuralStyle YAML on their synthetic sets"
        )
    elif cfg.MODEL.META_ARCHITECTURE == "VPSNet":
        train, test, expected = _video_batches(cfg)
    elif cfg.MODEL.META_ARCHITECTURE == "UPSNet":
        train, test, expected = _panoptic_batches(cfg)
    elif cfg.MODEL.ROI_HEADS.NAME == "DensePoseUVROIHeads":
        train, test, expected = _densepose_batches(cfg)
    elif arch == "YolactEdge" and cfg.MODEL.YOLACT_EDGE.TRAIN_STAGE != "image":
        train, test, expected = _yolact_edge_video_batches(cfg)
    elif arch in ("YOLACT", "YolactEdge"):  # FastMaskIoUNet needs >= 252 px inputs
        train, test, expected = _detection_batches(cfg, 256, 256)
    elif (
        cfg.MODEL.BACKBONE.NAME == "build_hourglass104_backbone" and cfg.MODEL.HOURGLASS.DEPTH == 5
    ):
        # HG-104's innermost level is 1/128 of the input: >= 2 x 2 for training-mode BatchNorm;
        # inference (flip, multi-scale) on the small image
        train, _, expected = _detection_batches(cfg, 256, 256)
        test = _detection_batches(cfg)[1]
    else:
        train, test, expected = _detection_batches(cfg)
    with EventStorage():
        losses = _two_player_losses(model, train) if hasattr(model, "players") else model(train)
    assert expected <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        out = model(test)
    if hasattr(model, "players"):  # image-to-image: the translated image at the network's size
        size = cfg.INPUT.GAN.CROP_SIZE
        assert len(out) == 1 and out[0]["image"].shape == (cfg.MODEL.GAN.OUTPUT_NC, size, size)
        return
    assert len(out) == 1 and out[0]["instances"].image_size == (test[0]["height"], test[0]["width"])
