"""DensePose R-CNN: upstream parameter names, loss keys and weights, inference outputs."""

import copy

import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from vision_plugins.data import build_mapper
from vision_plugins.engine.defaults import setup_cfg

SMALL = "configs/DensePose/densepose_rcnn_R_18_FPN_synth_densepose.yaml"
LEGACY = "configs/DensePose/densepose_rcnn_R_50_FPN_s1x_legacy.yaml"


def _cfg(config=SMALL, *opts):
    return setup_cfg(config, ["MODEL.WEIGHTS", "", "MODEL.DEVICE", "cpu", *opts])


def test_parameter_names_and_shapes_equal_upstream_legacy():
    model = build_model(_cfg(LEGACY))
    sd = {k: tuple(v.shape) for k, v in model.state_dict().items() if "densepose" in k}
    expected = {}
    for k in range(1, 9):
        expected[f"roi_heads.densepose_head.body_conv_fcn{k}.weight"] = (
            512,
            256 if k == 1 else 512,
            3,
            3,
        )
        expected[f"roi_heads.densepose_head.body_conv_fcn{k}.bias"] = (512,)
    for name, c in (
        ("ann_index_lowres", 15),
        ("index_uv_lowres", 25),
        ("u_lowres", 25),
        ("v_lowres", 25),
    ):
        expected[f"roi_heads.densepose_predictor.{name}.weight"] = (512, c, 4, 4)
        expected[f"roi_heads.densepose_predictor.{name}.bias"] = (c,)
    assert sd == expected


@pytest.fixture(scope="module")
def batch():
    cfg = _cfg(SMALL, "INPUT.RANDOM_FLIP", "none")
    mapper = build_mapper(cfg, is_train=True)
    return [mapper(d) for d in DatasetCatalog.get("vp_densepose_train")[:4]]


def _losses(batch, *opts):
    torch.manual_seed(0)
    model = build_model(_cfg(SMALL, *opts))
    model.train()
    torch.manual_seed(1)
    with EventStorage():
        return model(copy.deepcopy(batch))


def test_loss_keys_and_weights(batch):
    base = _losses(batch)
    assert set(base) == {
        "loss_rpn_cls",
        "loss_rpn_loc",
        "loss_cls",
        "loss_box_reg",
        "loss_densepose_I",
        "loss_densepose_U",
        "loss_densepose_V",
        "loss_densepose_S",
    }
    assert all(torch.isfinite(v) for v in base.values())
    scaled = _losses(
        batch,
        "MODEL.DENSEPOSE_UV.INDEX_WEIGHTS", "1.0",
        "MODEL.DENSEPOSE_UV.PART_WEIGHTS", "0.6",
        "MODEL.DENSEPOSE_UV.POINT_REGRESSION_WEIGHTS", "0.01",
    )  # fmt: skip
    for key, ratio in (("S", 0.5), ("I", 2.0), ("U", 0.1), ("V", 0.1)):
        k = f"loss_densepose_{key}"
        assert torch.allclose(scaled[k], ratio * base[k], rtol=1e-5), key


def test_no_densepose_annotation_gives_zero_densepose_losses(batch):
    empty = []
    for x in batch:
        x = dict(x)
        inst = copy.deepcopy(x["instances"])
        inst.gt_densepose.targets = [None] * len(inst)
        x["instances"] = inst
        empty.append(x)
    losses = _losses(empty)
    for k in "IUVS":
        assert losses[f"loss_densepose_{k}"].item() == 0
        assert losses[f"loss_densepose_{k}"].requires_grad


def test_training_without_densepose_field_names_the_mapper(batch):
    x = dict(batch[0])
    inst = copy.deepcopy(x["instances"])
    inst.remove("gt_densepose")
    x["instances"] = inst
    with pytest.raises(KeyError, match="DensePoseUVMapper"):
        _losses([x])


def test_inference_outputs():
    cfg = _cfg(SMALL, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0")
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    x = build_mapper(cfg, is_train=False)(DatasetCatalog.get("vp_densepose_val")[0])
    x["height"], x["width"] = 256, 256
    with torch.no_grad():
        (out,) = model([x])
    inst = out["instances"]
    assert len(inst) > 0 and inst.image_size == (256, 256)
    dp = inst.pred_densepose
    assert dp.coarse_segm.shape == (len(inst), 3, 56, 56)
    assert dp.fine_segm.shape == dp.u.shape == dp.v.shape == (len(inst), 5, 56, 56)
    assert inst.pred_masks.shape == (len(inst), 256, 256) and inst.pred_masks.dtype == torch.bool
