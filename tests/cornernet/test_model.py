"""CornerNet / CenterNet-Triplet: targets, decoding of synthetic heatmaps with known peaks, the
official canvas placement, the centre-region check, the test pipeline back to image pixels, and
training losses (incl. the single-object push artefact and empty images)."""

import math

import numpy as np
import pytest
import torch
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from vision_plugins.cornernet.postprocess import (
    center_region_check,
    corner_decode,
    official_canvas,
)
from vision_plugins.cornernet.targets import corner_targets
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.layers.center_heatmaps import gaussian_radius

CORNERNET = "configs/CornerNet/cornernet_hg_small_synth_shapes.yaml"
TRIPLET = "configs/CornerNet/centernet_triplet_hg_small_synth_shapes.yaml"


def _build(config, *opts):
    torch.manual_seed(0)
    return Trainer.build_model(setup_cfg(config, list(opts)))


def test_corner_targets_hand_case():
    # 64 x 64 input, 16 x 16 output: box (9, 13)-(41, 37) -> (2.25, 3.25)-(10.25, 9.25)
    t = corner_targets([[9, 13, 41, 37]], [1], 3, (64, 64), (16, 16), 0.3, center=True)
    assert t["tl_ind"].tolist() == [3 * 16 + 2] and t["br_ind"].tolist() == [9 * 16 + 10]
    assert t["ct_ind"].tolist() == [6 * 16 + 6]  # centre (25, 25) / 4 = 6.25
    np.testing.assert_allclose(t["tl_off"], [[0.25, 0.25]])
    np.testing.assert_allclose(t["br_off"], [[0.25, 0.25]])
    np.testing.assert_allclose(t["ct_off"], [[0.25, 0.25]])
    assert t["tl_heat"][1, 3, 2] == 1 and t["br_heat"][1, 9, 10] == 1 and t["ct_heat"][1, 6, 6] == 1
    assert t["tl_heat"][[0, 2]].sum() == 0
    r = int(gaussian_radius(math.ceil(24 / 4), math.ceil(32 / 4), 0.3))
    assert r >= 1 and t["tl_heat"][1, 3, 2 + r] > 0 and t["tl_heat"][1, 3, 2 + r + 1] == 0
    # corner bumps: sigma (2r + 1) / 6; centre bumps: (2r + 1) / 5
    s6, s5 = (2 * r + 1) / 6, (2 * r + 1) / 5
    assert t["tl_heat"][1, 3, 3] == pytest.approx(math.exp(-1 / (2 * s6 * s6)), rel=1e-6)
    assert t["ct_heat"][1, 6, 7] == pytest.approx(math.exp(-1 / (2 * s5 * s5)), rel=1e-6)
    # empty boxes (after clipping) are dropped
    assert len(corner_targets([[70, 70, 90, 90]], [0], 3, (64, 64), (16, 16))["tl_ind"]) == 0


def _heads(h=16, w=16, classes=3):
    z = torch.zeros
    out = {
        "tl_heat": z(1, classes, h, w),
        "br_heat": z(1, classes, h, w),
        "tl_tag": z(1, 1, h, w),
        "br_tag": z(1, 1, h, w),
        "tl_regr": z(1, 2, h, w),
        "br_regr": z(1, 2, h, w),
    }
    out["tl_heat"][0, 1, 3, 2] = 0.9  # object A, class 1: (2, 3) - (10, 12)
    out["br_heat"][0, 1, 12, 10] = 0.7
    out["tl_regr"][0, :, 3, 2] = torch.tensor([0.25, 0.5])
    out["br_tag"][0, 0, 12, 10] = 0.3
    out["tl_heat"][0, 2, 8, 8] = 0.8  # class 2 top-left: no class-2 bottom-right
    out["br_heat"][0, 1, 1, 1] = 0.6  # class 1 bottom-right above-left of A's top-left
    out["tl_heat"][0, 1, 5, 5] = 0.5  # class 1 top-left, tag too far from A's bottom-right
    out["tl_tag"][0, 0, 5, 5] = 0.9
    return out


def test_corner_decode_known_peaks():
    o = _heads()
    args = [o[k] for k in ("tl_heat", "br_heat", "tl_tag", "br_tag", "tl_regr", "br_regr")]
    dets, centres = corner_decode(*args, k=4, num_dets=16)
    assert centres is None
    # every other real pair is rejected (class, geometry, tag 0.6 > 0.5); top-K slots beyond
    # the peaks hold zero-score points whose pairs score 0, as officially
    valid = dets[0][dets[0, :, 4] > 0]
    assert len(valid) == 1
    torch.testing.assert_close(valid[0], torch.tensor([2.25, 3.5, 10, 12, 0.8, 0.9, 0.7, 1]))
    # with a looser tag threshold the (5, 5) corner pairs too
    dets, _ = corner_decode(*args, k=4, ae_threshold=0.7, num_dets=16)
    assert (dets[0, :, 4] > 0).sum() == 2


def test_official_canvas():
    assert official_canvas(127, 127) == ((127, 127), (0, 0), (126, 126))  # last row/col dropped
    assert official_canvas(100, 120) == ((127, 127), (13, 3), (100, 120))
    assert official_canvas(480, 640) == ((511, 767), (15, 63), (480, 640))


def test_center_region_check_small_and_large_boxes():
    # rows x1, y1, x2, y2, score, s_tl, s_br, cls
    dets = np.array([[0, 0, 30, 30, 0.6, 0, 0, 1],  # area 900: middle third [10, 20]
                     [0, 0, 200, 200, 0.6, 0, 0, 1],  # area 40000: middle fifth [80, 120]
                     [0, 0, 30, 30, 0.6, 0, 0, 2]], np.float32)  # fmt: skip
    centres = np.array([[15, 15, 1, 0.9], [75, 75, 1, 0.3], [100, 100, 1, 0.6], [16, 16, 1, 0.1]],
                       np.float32)  # fmt: skip
    out = center_region_check(dets, centres)
    # box 0: first matching centre (15, 15); box 1: (75, 75) is outside its fifth, (100, 100) in
    np.testing.assert_allclose(out[:, 4], [(1.2 + 0.9) / 3, (1.2 + 0.6) / 3, -1], rtol=1e-6)
    # strictly inside: a centre on the region border does not count
    on_border = center_region_check(dets[:1], np.array([[10, 15, 1, 0.9]], np.float32))
    assert on_border[0, 4] == -1


def test_inference_maps_back_to_image_pixels(monkeypatch):
    model = _build(CORNERNET, "MODEL.CORNERNET.TOP_K", "4").eval()
    heads = _heads(32, 32)
    for k in ("tl_heat", "br_heat"):  # the model applies the sigmoid
        heads[k] = torch.logit(heads[k].clamp(1e-6, 1 - 1e-6))
    monkeypatch.setattr(
        model,
        "forward_heads",
        lambda x: [{k: v.expand(len(x), -1, -1, -1) for k, v in heads.items()}],
    )
    image = torch.zeros(3, 100, 120)  # canvas 127 x 127, image at (top 13, left 3); ratio 32/127
    r = 127 / 32
    model.flip_test = False
    inst = model([{"image": image}])[0]["instances"]
    assert len(inst) == 1 and inst.pred_classes.tolist() == [1]
    box = [2.25 * r - 3, 3.5 * r - 13, 10 * r - 3, 12 * r - 13]
    np.testing.assert_allclose(inst.pred_boxes.tensor[0].numpy(), box, rtol=0, atol=1e-4)
    assert inst.scores.item() == pytest.approx(0.8)
    # flip test: the same heads on the mirrored input give the mirrored box (x -> 32 - x)
    model.flip_test = True
    inst = model([{"image": image}])[0]["instances"]
    mirrored = [(32 - 10) * r - 3, 3.5 * r - 13, (32 - 2.25) * r - 3, 12 * r - 13]
    boxes = sorted(inst.pred_boxes.tensor.numpy().tolist())
    np.testing.assert_allclose(boxes, sorted([box, mirrored]), rtol=0, atol=1e-4)


def _instances(boxes, classes, hw=(64, 64)):
    inst = Instances(hw)
    inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.gt_classes = torch.tensor(classes, dtype=torch.long)
    return inst


@pytest.mark.parametrize("config", [CORNERNET, TRIPLET])
def test_training_losses(config):
    model = _build(config).train()
    image = torch.randint(0, 256, (3, 64, 64)).float()
    one = [{"image": image, "instances": _instances([[8, 8, 40, 48]], [1])},
           {"image": image, "instances": _instances([[4, 30, 60, 60]], [0])}]  # fmt: skip
    with EventStorage():
        losses = model(one)
    expected = {"loss_focal", "loss_pull", "loss_push", "loss_off"}
    assert set(losses) == expected
    # one object per image: push ≈ 1 per image (official epsilon artefact), weight 0.1
    assert losses["loss_push"].item() == pytest.approx(0.2, rel=1e-3)
    sum(losses.values()).backward()
    assert model.tl_heats[0][1].bias.grad.abs().sum() > 0
    head = model.ct_heats if config == TRIPLET else model.br_heats
    assert head[0][1].bias.grad.abs().sum() > 0
    model.zero_grad()
    empty = [{"image": image, "instances": _instances([], [])}]
    with EventStorage():
        losses = model(empty)
    assert losses["loss_pull"].item() == 0 and losses["loss_push"].item() == 0
    assert losses["loss_off"].item() == 0 and losses["loss_focal"].item() > 0
    sum(losses.values()).backward()  # a graph even without objects
