"""YOLACT meta-architecture: mask assembly, mapper, edge cases, grayscale, converter errors."""

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from detectron2.structures import BoxMode
from detectron2.utils.events import EventStorage

from tests.parity import load_fixture, requires_fixtures
from vision_plugins.checkpoint import CheckpointFormatError, convert_checkpoint
from vision_plugins.engine import Predictor, Trainer, setup_cfg
from vision_plugins.yolact import YOLACT, YolactDatasetMapper
from vision_plugins.yolact.box_ops import crop_masks

TINY = [
    "MODEL.YOLACT.MAX_SIZE", "64", "MODEL.YOLACT.FPN_CHANNELS", "16",
    "MODEL.YOLACT.NUM_PROTOTYPES", "4", "MODEL.RESNETS.NORM", "GN",
    "DATALOADER.NUM_WORKERS", "0", "SOLVER.IMS_PER_BATCH", "2",
]  # fmt: skip


@pytest.fixture(scope="module")
def cfg():
    return setup_cfg("configs/YOLACT/yolact_R_18_FPN_synth_shapes.yaml", TINY)


@pytest.fixture(scope="module")
def model(cfg):
    torch.manual_seed(0)
    return Trainer.build_model(cfg)


def test_inference_assembles_masks_from_prototypes(model):
    """sigmoid(P @ Cᵀ), cropped to the box (+1 prototype px), resized to the output size,
    > 0.5; boxes scaled to the output size; classes 0-based."""
    proto = torch.zeros(8, 8, 2)
    proto[:, :, 0] = 4.0
    proto[:4, :, 1] = 8.0  # prototype 1: the top half
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.5, 0.5, 0.75, 0.75]])
    scores = torch.tensor([[0.0, 0.9, 0.0, 0.0], [0.0, 0.0, 0.0, 0.8]])
    coefs = torch.tensor([[-1.0, 1.0], [1.0, 0.0]])
    inst = model.inference_single(boxes, scores, coefs, proto, 16, 32)
    # official Fast NMS has no per-class score threshold: both candidates stay in every class
    # (score 0 where they are not that class); the two real detections come first
    assert inst.scores.tolist() == pytest.approx([0.9, 0.8, 0, 0, 0, 0])
    inst = inst[:2]
    assert inst.pred_classes.tolist() == [0, 2]
    torch.testing.assert_close(
        inst.pred_boxes.tensor, torch.tensor([[0.0, 0, 32, 16], [16, 8, 24, 12]])
    )
    expected = crop_masks(torch.sigmoid(proto @ coefs.t()), boxes).permute(2, 0, 1)
    expected = F.interpolate(expected[None], (16, 32), mode="bilinear", align_corners=False)[0]
    assert torch.equal(inst.pred_masks, expected > 0.5)
    # mask 0: sigmoid(-4 + 8) on the top half, sigmoid(-4) below -> the top half only
    assert inst.pred_masks[0, :7].all() and not inst.pred_masks[0, 9:].any()
    # nothing above the confidence threshold: empty, well-formed instances
    empty = model.inference_single(boxes, torch.zeros(2, 4), coefs, proto, 16, 32)
    assert len(empty) == 0 and empty.pred_masks.shape == (0, 16, 32)


def _image_file(tmp_path, gray=False):
    path = str(tmp_path / ("gray.png" if gray else "img.png"))
    img = np.full((48, 64, 3), 30, np.uint8)
    img[8:32, 8:40] = (200, 50, 50)
    cv2.imwrite(path, img[:, :, 0] if gray else img)
    return path


def _ann(box, iscrowd=0, category_id=0):
    x1, y1, x2, y2 = box
    poly = [x1, y1, x2, y1, x2, y2, x1, y2]
    return {"bbox": list(box), "bbox_mode": BoxMode.XYXY_ABS, "category_id": category_id,
            "segmentation": [poly], "iscrowd": iscrowd}  # fmt: skip


def test_mapper_resizes_and_keeps_crowd_boxes(cfg, tmp_path):
    d = {"file_name": _image_file(tmp_path), "image_id": 1, "height": 48, "width": 64,
         "annotations": [_ann((8, 8, 40, 32)), _ann((0, 24, 32, 48), iscrowd=1)]}  # fmt: skip
    out = YolactDatasetMapper(cfg, is_train=False)(dict(d))
    assert out["image"].shape == (3, 64, 64)  # the fixed MAX_SIZE² input
    c = cfg.clone()
    c.defrost()
    c.INPUT.RANDOM_FLIP = "none"
    out = YolactDatasetMapper(c, is_train=True)(dict(d))
    assert len(out["instances"]) == 1  # the crowd is not an instance ...
    torch.testing.assert_close(out["crowd_boxes"], torch.tensor([[0.0, 32, 32, 64]]))  # ... kept


def test_empty_and_crowd_only_images_train_with_finite_losses(cfg, model, tmp_path):
    path = _image_file(tmp_path)
    mapper = YolactDatasetMapper(cfg, is_train=True)
    base = {"file_name": path, "image_id": 1, "height": 48, "width": 64}
    batch = [
        mapper({**base, "annotations": []}),
        mapper({**base, "annotations": [_ann((0, 24, 32, 48), iscrowd=1)]}),
    ]
    model.train()
    with EventStorage():
        losses = model(batch)
    assert set(losses) == {"loss_box", "loss_cls", "loss_mask", "loss_semseg"}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    model.eval()


def test_grayscale_images(cfg, model, tmp_path):
    predictor = Predictor(cfg, model=model)
    gray = cv2.imread(_image_file(tmp_path, gray=True), cv2.IMREAD_GRAYSCALE)
    assert gray.ndim == 2
    out = predictor(gray)["instances"]
    assert out.image_size == (48, 64)
    # a one-channel tensor reaching the model directly is replicated to 3 channels too
    x = torch.as_tensor(gray[None].astype(np.float32))
    with torch.no_grad():
        out1 = model([{"image": x, "height": 48, "width": 64}])[0]["instances"]
    rgb = torch.as_tensor(np.repeat(gray[None], 3, 0).astype(np.float32))
    with torch.no_grad():
        out3 = model([{"image": rgb, "height": 48, "width": 64}])[0]["instances"]
    torch.testing.assert_close(out1.scores, out3.scores)


@requires_fixtures
def test_converter_refuses_the_wrong_variant_and_names_keys(tmp_path):
    _, sd, _, _ = load_fixture("yolact_plus_R_50")
    src = tmp_path / "plus.pth"
    torch.save(sd, src)
    with pytest.raises(CheckpointFormatError, match="conv_offset_mask.*--arch yolact_plus"):
        convert_checkpoint("yolact", str(src), str(tmp_path / "out.pth"))
    _, sd, _, _ = load_fixture("yolact_R_50")
    torch.save(sd, src)
    with pytest.raises(CheckpointFormatError, match="no 'maskiou_net.*--arch yolact"):
        convert_checkpoint("yolact_plus", str(src), str(tmp_path / "out.pth"))
    del sd["proto_net.4.weight"]
    torch.save(sd, src)
    with pytest.raises(CheckpointFormatError, match="missing keys.*proto_net.4.weight"):
        convert_checkpoint("yolact", str(src), str(tmp_path / "out.pth"))
    sd["proto_net.4.weight"] = torch.zeros(3, 3)
    torch.save(sd, src)
    with pytest.raises(CheckpointFormatError, match="proto_net.4.weight.*shape"):
        convert_checkpoint("yolact", str(src), str(tmp_path / "out.pth"))


@requires_fixtures
def test_converted_weights_load_strictly(tmp_path):
    _, sd, _, _ = load_fixture("yolact_plus_R_50")
    src, dst = tmp_path / "plus.pth", tmp_path / "out.pth"
    torch.save(sd, src)
    convert_checkpoint("yolact_plus", str(src), str(dst))
    cfg = setup_cfg("configs/YOLACT/yolact_plus_R_50_FPN_550_coco.yaml", [])
    with torch.device("meta"):
        model = YOLACT(cfg)
    converted = torch.load(dst, weights_only=True)["model"]
    model.load_state_dict(converted, strict=True, assign=True)
