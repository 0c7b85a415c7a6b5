"""Every configs/SuperResolution YAML builds, runs one iteration of its players' losses on a
vp_sr sample through its own mapper and infers at scale x input size; the recipes' values; the
cfg adder is idempotent; a few iterations through tools/train_net.py with evaluation."""

import glob
import json
import os

import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.engine import default_argument_parser
from detectron2.utils.events import EventStorage

from vision_plugins.data import build_mapper
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.super_resolution.config import add_sr_config

from ..tool_scripts import load_tool

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = sorted(
    os.path.relpath(p, REPO)
    for p in glob.glob(os.path.join(REPO, "configs", "SuperResolution", "*.yaml"))
    if not os.path.basename(p).startswith("Base-")
)


def _losses(model, batch):
    model(batch, phase="generate")
    losses = {}
    for player in model.step_order:
        losses.update(model(batch, phase=player))
    return losses


@pytest.mark.parametrize("rel", CONFIGS)
def test_config_builds_trains_and_infers(rel):
    # full-size recipes with one block: the same layers, a fast test
    cfg = setup_cfg(rel, ["MODEL.DEVICE", "cpu", "MODEL.GAN.N_BLOCKS", 1])
    cfg.defrost()
    cfg.DATASETS.TRAIN = cfg.DATASETS.TEST = ("vp_sr_train",)
    s, gt = cfg.INPUT.SR.SCALE, cfg.INPUT.SR.GT_SIZE
    torch.manual_seed(0)
    model = Trainer.build_model(cfg)
    d = dict(DatasetCatalog.get("vp_sr_train")[0])
    if gt > 96:  # vp_sr images are 96²: random images of the recipe's crop size
        lr = torch.rand(3, gt // s, gt // s) * 255
        train = [{"image": lr, "target": torch.rand(3, gt, gt) * 255}] * 2
    else:
        train = [build_mapper(cfg, True)(d) for _ in range(2)]
        assert train[0]["target"].shape == (3, gt, gt)
        assert train[0]["image"].shape == (3, gt // s, gt // s)
    expected = {"loss_g_pix"} if cfg.MODEL.GAN.LOSS.PIXEL_WEIGHT else set()
    expected |= {"loss_g_percep"} if cfg.MODEL.GAN.LOSS.PERCEPTUAL_WEIGHT else set()
    if "D" in model.players:
        expected |= {"loss_g_gan", "loss_d_real", "loss_d_fake"}
    with EventStorage():
        losses = _losses(model.train(), train)
    assert set(losses) == expected
    assert all(torch.isfinite(v) for v in losses.values())
    test = build_mapper(cfg, False)(d)
    with torch.no_grad():
        out = model.eval()([test])
    h, w = test["image"].shape[1:]
    assert out[0]["image"].shape == (3, s * h, s * w)
    assert 0 <= float(out[0]["image"].min()) and float(out[0]["image"].max()) <= 255


def test_recipe_values():
    esrgan = setup_cfg("configs/SuperResolution/esrgan_rrdb_x4_div2k.yaml", [])
    loss = esrgan.MODEL.GAN.LOSS
    assert (loss.PIXEL, loss.PIXEL_WEIGHT, loss.PERCEPTUAL_WEIGHT) == ("l1", 0.01, 1.0)
    assert (loss.MODE, loss.GAN_WEIGHT) == ("ragan", 0.005)
    assert esrgan.MODEL.PERCEPTUAL.LAYERS == ("conv5_4",)
    solver = esrgan.SOLVER.GAN
    assert (solver.BASE_LR_G, solver.BASE_LR_D, tuple(solver.BETAS)) == (1e-4, 1e-4, (0.9, 0.99))
    assert tuple(solver.STEPS) == (50000, 100000, 200000, 300000) and solver.GAMMA == 0.5
    assert esrgan.SOLVER.MAX_ITER == 400000 and esrgan.SOLVER.IMS_PER_BATCH == 16
    assert esrgan.INPUT.SR.GT_SIZE == 128 and esrgan.MODEL.GAN.N_BLOCKS == 23
    paper = setup_cfg("configs/SuperResolution/srgan_srresnet_x4_paper.yaml", [])
    assert paper.MODEL.GAN.GENERATOR == "SRResNet"
    assert paper.MODEL.GAN.D.NAME == "SRGANDiscriminator"
    assert paper.MODEL.PERCEPTUAL.LAYERS == ("relu5_4",)
    assert paper.MODEL.PERCEPTUAL.FEATURE_SCALE == pytest.approx(1 / 12.75)
    assert paper.MODEL.GAN.LOSS.GAN_WEIGHT == 1e-3 and paper.MODEL.PERCEPTUAL.CRITERION == "mse"


def test_add_sr_config_is_idempotent_and_keeps_values():
    cfg = setup_cfg("configs/SuperResolution/esrgan_rrdb_x4_div2k.yaml", [])
    cfg.defrost()
    before = cfg.dump()
    add_sr_config(cfg)
    assert cfg.dump() == before


def test_srgan_refuses_the_relativistic_mode():
    cfg = setup_cfg("configs/SuperResolution/srgan_small_vp_sr.yaml", ["MODEL.DEVICE", "cpu"])
    cfg.defrost()
    cfg.MODEL.GAN.LOSS.MODE = "ragan"
    with pytest.raises(ValueError, match="'ragan'.*ESRGAN"):
        Trainer.build_model(cfg)


def test_train_net_runs_and_evaluates(tmp_path):
    """A few iterations of the small SRGAN through tools/train_net.py, evaluation on vp_sr_val
    (PSNR-Y / SSIM-Y and bicubic's, by the super_resolution evaluator)."""
    out = tmp_path / "run"
    args = [
        "--config-file", "configs/SuperResolution/srgan_small_vp_sr.yaml",
        "MODEL.DEVICE", "cpu", "SOLVER.MAX_ITER", "3", "SOLVER.IMS_PER_BATCH", "2",
        "TEST.EVAL_PERIOD", "0", "DATALOADER.NUM_WORKERS", "0", "OUTPUT_DIR", str(out),
        "MODEL.GAN.N_BLOCKS", "1", "SOLVER.GAN.IMAGE_PERIOD", "3",
        "TEST.SR.FID_KID", "False",
    ]  # fmt: skip
    load_tool("train_net").main(default_argument_parser().parse_args(args))
    rows = [json.loads(line) for line in open(out / "metrics.json") if line.strip()]
    assert {"loss_g_gan", "loss_d_real", "loss_d_fake", "lr", "lr_D"} <= set(rows[0])
    evals = [r for r in rows if any(k.endswith("PSNR_Y") for k in r)]
    assert evals, rows[-1]
    assert os.path.isfile(out / "model_final.pth")
    assert os.listdir(out / "images")


def test_pretrain_g_initialises_the_generator_of_a_gan(tmp_path):
    """MODEL.GAN.PRETRAIN_G (BasicSR pretrain_network_g): the netG.* weights of a PSNR model's
    checkpoint start the GAN; a generator of another size is refused naming the key."""
    opts = ["MODEL.DEVICE", "cpu"]
    psnr = Trainer.build_model(
        setup_cfg("configs/SuperResolution/msrresnet_small_mse_vp_sr.yaml", opts)
    )
    torch.save({"model": psnr.state_dict(), "iteration": 9}, tmp_path / "model_final.pth")
    config = "configs/SuperResolution/srgan_small_vp_sr.yaml"
    gan = Trainer.build_model(
        setup_cfg(config, opts + ["MODEL.GAN.PRETRAIN_G", str(tmp_path / "model_final.pth")])
    )
    assert all(torch.equal(v, gan.netG.state_dict()[k]) for k, v in psnr.netG.state_dict().items())
    bad = opts + ["MODEL.GAN.PRETRAIN_G", str(tmp_path / "model_final.pth"), "MODEL.GAN.NGF", 16]
    with pytest.raises(ValueError, match="MODEL.GAN.PRETRAIN_G=.*does not fit"):
        Trainer.build_model(setup_cfg(config, bad))
