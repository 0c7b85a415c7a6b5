"""UPSNet meta-architecture and semantic head: losses, gradients, weights, outputs, errors."""

import copy

import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage
from torchvision.ops import DeformConv2d

from vision_plugins.data import build_mapper
from vision_plugins.engine.defaults import check_num_classes, setup_cfg
from vision_plugins.upsnet import meta_arch as upsnet_meta_arch
from vision_plugins.upsnet.sem_seg_head import DeformConvBlock, semantic_crops

CONFIG = "configs/UPSNet/upsnet_R_18_FPN_synth_panoptic.yaml"


def _cfg(*opts):
    return setup_cfg(CONFIG, ["MODEL.DEVICE", "cpu", "INPUT.RANDOM_FLIP", "none", *opts])


@pytest.fixture(scope="module")
def batch():
    cfg = _cfg()
    mapper = build_mapper(cfg, is_train=True)
    return [mapper(d) for d in DatasetCatalog.get("vp_panoptic_train")[:3]]


def _losses(cfg, batch, seed=0):
    torch.manual_seed(seed)
    model = build_model(cfg)
    model.train()
    torch.manual_seed(seed + 1)
    with EventStorage():
        return model, model(copy.deepcopy(batch))


def test_loss_keys_and_gradients_reach_both_heads(batch):
    model, losses = _losses(_cfg(), batch)
    assert set(losses) == {
        "loss_rpn_cls",
        "loss_rpn_loc",
        "loss_cls",
        "loss_box_reg",
        "loss_mask",
        "loss_sem_seg",
        "loss_sem_roi",
        "loss_panoptic",
    }
    assert all(torch.isfinite(v) for v in losses.values())
    losses["loss_panoptic"].backward()
    mask_grad = model.roi_heads.mask_head.predictor.weight.grad
    sem_grad = model.sem_seg_head.score.weight.grad
    assert mask_grad is not None and mask_grad.abs().sum() > 0
    assert sem_grad is not None and sem_grad.abs().sum() > 0
    assert model.roi_heads.box_predictor.cls_score.weight.grad is None  # not on this path


def test_loss_weights_follow_the_config(batch):
    _, base = _losses(_cfg(), batch)
    _, scaled = _losses(
        _cfg(
            "MODEL.UPSNET.PANOPTIC_LOSS_WEIGHT",
            "1.0",  # 0.5 in the config
            "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT",
            "0.2",  # 1.0 in the config
        ),
        batch,
    )
    assert torch.allclose(scaled["loss_panoptic"], 2 * base["loss_panoptic"], rtol=1e-5)
    assert torch.allclose(scaled["loss_sem_seg"], 0.2 * base["loss_sem_seg"], rtol=1e-5)
    _, roi2 = _losses(_cfg("MODEL.UPSNET.SEM_ROI_LOSS_WEIGHT", "0.4"), batch)  # 0.2 in the config
    assert torch.allclose(roi2["loss_sem_roi"], 2 * base["loss_sem_roi"], rtol=1e-5)
    _, off = _losses(_cfg("MODEL.UPSNET.SEM_ROI_LOSS_WEIGHT", "0.0"), batch)
    assert "loss_sem_roi" not in off  # weight 0 = off


def test_panoptic_head_trains_at_quarter_resolution_on_kept_gt(batch, monkeypatch):
    seen = []
    original = upsnet_meta_arch.mask_matching

    def spy(sem, masks, num_stuff, with_void):
        seen.append((tuple(sem.shape), len(masks), with_void))
        return original(sem, masks, num_stuff, with_void)

    monkeypatch.setattr(upsnet_meta_arch, "mask_matching", spy)
    _losses(_cfg(), batch)
    for x, (shape, kept, with_void) in zip(batch, seen):
        h, w = x["image"].shape[-2:]
        n = len(x["instances"])
        assert shape == ((h + 31) // 32 * 8, (w + 31) // 32 * 8) and with_void
        assert kept == max(1, int(n * 0.7 + 0.5))
    seen.clear()
    _losses(_cfg("MODEL.UPSNET.BOX_KEEP_FRACTION", "1.0"), batch)
    assert [k for _, k, _ in seen] == [len(x["instances"]) for x in batch]
    assert not any(v for _, _, v in seen)  # no unknown channel when every instance is kept


def test_empty_ground_truth_gives_finite_losses_with_a_graph(batch):
    empty = []
    for x in batch:
        x = dict(x)
        inst = Instances(x["instances"].image_size)
        inst.gt_boxes = Boxes(torch.zeros(0, 4))
        inst.gt_classes = torch.zeros(0, dtype=torch.long)
        inst.gt_masks = x["instances"].gt_masks[[]]
        x["instances"] = inst
        x["sem_seg"] = torch.zeros_like(x["sem_seg"])
        empty.append(x)
    model, losses = _losses(_cfg(), empty)
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["loss_panoptic"].requires_grad
    sum(losses.values()).backward()


def test_training_without_panoptic_targets_names_the_mapper(batch):
    x = dict(batch[0])
    del x["sem_seg"]
    with pytest.raises(KeyError, match="PanopticMapper"):
        _losses(_cfg(), [x])


@pytest.mark.parametrize("combine", ["panoptic_head", "heuristic"])
def test_inference_outputs(combine):
    cfg = _cfg("MODEL.UPSNET.TEST.COMBINE", combine, "MODEL.UPSNET.TEST.SCORE_THRESH", "0.0")
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    mapper = build_mapper(cfg, is_train=False)
    x = mapper(DatasetCatalog.get("vp_panoptic_val")[0])
    x["height"], x["width"] = 200, 180  # output resolution != input resolution
    with torch.no_grad():
        (out,) = model([x])
    pan, segments = out["panoptic_seg"]
    assert pan.shape == (200, 180) and pan.dtype == torch.int32
    assert out["sem_seg"].shape == (6, 200, 180)
    assert out["instances"].image_size == (200, 180)
    ids = sorted(s["id"] for s in segments)
    assert ids == list(range(1, len(segments) + 1))
    assert set(torch.unique(pan).tolist()) - {0} == set(ids)
    for s in segments:
        assert 0 <= s["category_id"] < (3 if s["isthing"] else 3)


def test_config_errors():
    with pytest.raises(ValueError, match="MASK_ON"):
        build_model(_cfg("MODEL.MASK_ON", "False"))
    with pytest.raises(ValueError, match="SEM_SEG_HEAD.NUM_CLASSES=2"):
        build_model(_cfg("MODEL.SEM_SEG_HEAD.NUM_CLASSES", "2"))
    with pytest.raises(ValueError, match="COMBINE"):
        build_model(_cfg("MODEL.UPSNET.TEST.COMBINE", "max"))
    with pytest.raises(ValueError, match="stuff_classes"):
        check_num_classes(_cfg("MODEL.SEM_SEG_HEAD.NUM_CLASSES", "5"))


def test_zero_offset_deformable_block_equals_a_conv():
    torch.manual_seed(0)
    block = DeformConvBlock(4, 3, norm="", deformable=True)
    assert isinstance(block.conv, DeformConv2d)
    conv = torch.nn.Conv2d(4, 3, 3, padding=1)
    conv.weight.data.copy_(block.conv.weight.data)
    conv.bias.data.copy_(block.conv.bias.data)
    x = torch.randn(2, 4, 9, 7)
    assert torch.allclose(block(x), torch.relu(conv(x)), atol=1e-5)
    block(x).sum().backward()  # CPU backward exists (torchvision)
    assert block.offset.weight.grad is not None


def test_semantic_head_shares_its_subnet_and_outputs_stride_4():
    cfg = _cfg("MODEL.UPSNET.SEM_DEFORMABLE", "True")
    model = build_model(cfg).eval()
    head = model.sem_seg_head
    assert len(head.subnet) == 3 and head.common_stride == 4
    widths = [(b.conv.in_channels, b.conv.out_channels) for b in head.subnet]
    assert widths == [(64, 64), (64, 64), (64, 64)]
    feats = {f"p{k}": torch.randn(1, 64, 64 // 2**k, 96 // 2**k) for k in (2, 3, 4, 5)}
    logits, merged = head.layers(feats)
    assert logits.shape == (1, 6, 16, 24) and merged.shape == (1, 256, 16, 24)
    p5 = torch.nn.functional.interpolate(
        head.subnet(feats["p5"]), size=(16, 24), mode="bilinear", align_corners=False
    )
    assert torch.allclose(merged[:, 192:], p5)  # the same subnet on every level
    assert head.upsample(logits).shape == (1, 6, 64, 96)
    narrow = build_model(_cfg("MODEL.UPSNET.SEM_CONV_DIM", "32")).sem_seg_head
    assert [(b.conv.in_channels, b.conv.out_channels) for b in narrow.subnet] == [
        (64, 64),
        (64, 32),
        (32, 32),
    ]


def test_semantic_crops_nearest_at_cell_centres():
    labels = torch.arange(16).reshape(1, 4, 4)
    crops = semantic_crops(
        labels, [torch.tensor([[0.0, 0.0, 4.0, 4.0], [2.0, 2.0, 6.0, 6.0]])], 2, 255
    )
    assert crops[0].tolist() == [[5, 7], [13, 15]]  # centres at 1, 3
    assert crops[1].tolist() == [[15, 255], [255, 255]]  # centres at 3, 5 (outside)
