"""Both FastNeuralStyle configs build on CPU, run one training iteration's losses on a vp_style
sample through their own mapper and infer at the input's size (what tests/test_configs.py does
for the detection models; the COCO recipe takes the synthetic style image from the config)."""

import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import build_model

from vision_plugins.data import build_mapper
from vision_plugins.engine import check_datasets, setup_cfg


@pytest.mark.parametrize("config", ["fast_neural_style_synth.yaml", "fast_neural_style_coco.yaml"])
def test_config_builds_trains_and_infers_on_cpu(config):
    style = MetadataCatalog.get("vp_style_train").style_image
    DatasetCatalog.get("vp_style_train")  # generates the files
    opts = ["MODEL.DEVICE", "cpu", "INPUT.STYLE.SIZE", "64"]
    if "coco" in config:
        opts += ["INPUT.STYLE.STYLE_IMAGE", style, "MODEL.GAN.N_BLOCKS", "1"]
    cfg = setup_cfg(f"configs/FastNeuralStyle/{config}", opts)
    check_datasets(cfg)
    torch.manual_seed(0)
    model = build_model(cfg)
    d = DatasetCatalog.get("vp_style_train")[0]
    train, test = build_mapper(cfg, True)(d), build_mapper(cfg, False)(d)
    assert train["image"].shape == (3, 64, 64) and test["image"].shape == (3, 64, 80)
    model.train()
    model([train], phase="generate")
    losses = model([train], phase="G")
    assert set(losses) == {"loss_content", "loss_style"}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    model.eval()
    with torch.no_grad():
        out = model([test])
    assert len(out) == 1 and out[0]["image"].shape == (3, 64, 80)
    assert 0 <= out[0]["image"].min() and out[0]["image"].max() <= 255
