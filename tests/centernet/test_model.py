"""CenterNetOAP targets on a hand case, losses on empty images, converter errors."""

import math

import pytest
import torch
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from tests.parity import load_fixture, requires_fixtures
from vision_plugins.checkpoint import CheckpointFormatError, convert_checkpoint
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.layers.center_heatmaps import gaussian_radius

CONFIG = "configs/CenterNet/centernet_oap_res18_synth_shapes.yaml"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return Trainer.build_model(setup_cfg(CONFIG, []))


def _instances(boxes, classes, hw=(64, 64)):
    inst = Instances(hw)
    inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.gt_classes = torch.tensor(classes, dtype=torch.long)
    return inst


def test_targets_hand_case(model):
    # box (10, 18)-(30, 34) in input px -> stride 4: (2.5, 4.5)-(7.5, 8.5), w 5, h 4
    heat, centers, sizes, offsets = model.targets(_instances([[10, 18, 30, 34]], [2]), 16, 16)
    assert centers.tolist() == [[5, 6]]  # int((2.5 + 7.5) / 2), int((4.5 + 8.5) / 2)
    torch.testing.assert_close(sizes, torch.tensor([[5.0, 4.0]]))
    torch.testing.assert_close(offsets, torch.tensor([[0.0, 0.5]]))
    assert heat[2, 6, 5] == 1.0 and heat[:2].sum() == 0
    radius = int(gaussian_radius(math.ceil(4.0), math.ceil(5.0), 0.7, legacy=True))
    assert heat[2, 6, 5 + radius] > 0 and heat[2, 6, 5 + radius + 1] == 0


def test_empty_image_trains_with_finite_losses(model):
    x = {"image": torch.rand(3, 64, 64) * 255, "height": 64, "width": 64,
         "instances": _instances([], [])}  # fmt: skip
    model.train()
    with EventStorage():
        losses = model([x])
    model.eval()
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["loss_wh"].item() == 0 and losses["loss_off"].item() == 0


@requires_fixtures
def test_converter_refuses_the_other_variant(tmp_path):
    _, sd, _, _ = load_fixture("centernet_oap_resdcn18")
    src = tmp_path / "dcn.pth"
    torch.save({"epoch": 0, "state_dict": sd}, src)
    with pytest.raises(CheckpointFormatError, match="--arch centernet_oap_resdcn18"):
        convert_checkpoint("centernet_oap_res18", str(src), str(tmp_path / "out.pth"))
    del sd["hm.2.weight"]
    torch.save({"epoch": 0, "state_dict": sd}, src)
    with pytest.raises(CheckpointFormatError, match="hm.2.weight"):
        convert_checkpoint("centernet_oap_resdcn18", str(src), str(tmp_path / "out.pth"))


def test_flip_test_averages_heatmap_and_size_not_offset(model):
    model.eval()
    image = torch.randint(0, 256, (3, 64, 96)).float()
    with torch.no_grad():
        x = model.preprocess_image([{"image": image}]).tensor
        hm, wh, reg = model.forward_heads(x)
        hm_f, wh_f, _ = model.forward_heads(x.flip(-1))
        heat = (hm.sigmoid() + hm_f.sigmoid().flip(-1)) / 2
        ref = model.decode(heat, (wh + wh_f.flip(-1)) / 2, reg, (64, 96))
        ref = detector_postprocess(ref, 64, 96)
        model.flip_test = True
        try:
            out = model([{"image": image}])[0]["instances"]
        finally:
            model.flip_test = False
    torch.testing.assert_close(out.scores, ref.scores)
    torch.testing.assert_close(out.pred_boxes.tensor, ref.pred_boxes.tensor)
