"""The srresnet_x4 and esrgan_rrdb_x4 parity fixtures (README_gans.md): the official generator /
discriminator files converted by ``tools/convert_weights.py --arch msrresnet`` / ``--arch
esrgan`` (all three ESRGAN key schemes), loaded with zero missing / unexpected keys into the
models of the official recipes, give the official eval outputs, VGG54 values and the official
one-iteration training losses and discriminator logits (BasicSR ``SRGANModel`` /
``ESRGANModel.optimize_parameters``: G step, then D step) -- every expected key within the
manifest's tolerance."""

import numpy as np
import pytest
import torch
from detectron2.utils.events import EventStorage

from vision_plugins.checkpoint import Checkpointer, CheckpointFormatError, convert_checkpoint
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.engine.gan_trainer import TwoPlayerStep, TwoPlayerTrainer
from vision_plugins.gan.perceptual import VGGFeatures

from ..parity import (
    check_gan_key,
    fixture_image,
    gan_fixture_tolerance,
    load_gan_fixture,
    requires_fixtures,
)
from ..tool_scripts import load_tool

pytestmark = requires_fixtures
CONFIGS = {
    "srresnet_x4": "configs/SuperResolution/srgan_msrresnet_x4_div2k.yaml",
    "esrgan_rrdb_x4": "configs/SuperResolution/esrgan_rrdb_x4_div2k.yaml",
}
ARCH = {"srresnet_x4": "msrresnet", "esrgan_rrdb_x4": "esrgan"}
# the fixtures' SRGAN run uses the paper's adversarial weight (BasicSR's MSRGAN yml: 5e-3)
GAN_WEIGHT = {"srresnet_x4": 1e-3, "esrgan_rrdb_x4": 5e-3}


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def setup(request, tmp_path_factory):
    """(name, manifest, inputs, expected, converted file, VGG file)."""
    name = request.param
    manifest, sds, ins, exp = load_gan_fixture(name)
    folder = tmp_path_factory.mktemp(name)
    torch.save(sds["G"], folder / "net_g.pth")
    torch.save({"params": sds["D"]}, folder / "net_d.pth")  # BasicSR's container
    torch.save(sds["vgg19_features"], folder / "vgg19_features.pth")
    dst = folder / "converted.pth"
    src = [f"G={folder / 'net_g.pth'}", f"D={folder / 'net_d.pth'}"]
    assert (
        load_tool("convert_weights").main(["--arch", ARCH[name], "--src", *src, "--dst", str(dst)])
        == 0
    )
    return name, manifest, sds, ins, exp, dst, folder / "vgg19_features.pth"


def _cfg(name, vgg):
    return setup_cfg(
        CONFIGS[name],
        [
            "MODEL.DEVICE", "cpu",
            "MODEL.PERCEPTUAL.WEIGHTS", str(vgg),
            "MODEL.GAN.LOSS.GAN_WEIGHT", GAN_WEIGHT[name],
        ],
    )  # fmt: skip


def _model(cfg, converted):
    model = Trainer.build_model(cfg)
    Checkpointer(model).load(str(converted))
    return model


def _batch(ins):
    return [
        {"image": fixture_image(ins["lq"][i]), "target": fixture_image(ins["gt"][i])}
        for i in range(len(ins["lq"]))
    ]


def test_converted_file_matches_the_model_exactly(setup):
    name, manifest, sds, _, _, dst, vgg = setup
    state = torch.load(dst, weights_only=True)
    model = Trainer.build_model(_cfg(name, vgg))
    incompatible = model.load_state_dict(state["model"], strict=False)
    assert not incompatible.missing_keys and not incompatible.unexpected_keys
    assert len(state["model"]) == len(sds["G"]) + len(sds["D"])
    assert not any("vgg" in k or "perceptual" in k for k in model.state_dict())
    g = sum(p.numel() for p in model.netG.parameters())
    assert g == manifest["networks"]["G"]["num_params"]
    expected_generator = {"srresnet_x4": "MSRResNet", "esrgan_rrdb_x4": "RRDBNet"}[name]
    assert state["config"]["MODEL.GAN.GENERATOR"] == expected_generator
    assert state["config"]["MODEL.GAN.D.INPUT_SIZE"] == 128


def test_eval_outputs_and_vgg54(setup):
    name, manifest, _, ins, exp, dst, vgg = setup
    cfg = _cfg(name, vgg)
    model = _model(cfg, dst).eval()
    batch = _batch(ins)
    with torch.no_grad():
        lq = model.normalize(batch, "image", 3)
        gt = model.normalize(batch, "target", 3)
        out = model.netG(lq)
        check_gan_key(manifest, exp, "G_out", out)
        check_gan_key(manifest, exp, "D_eval_real", model.netD(gt))
        check_gan_key(manifest, exp, "D_eval_fake", model.netD(out))
        # the SRGAN paper's VGG54: MSE of VGG19 relu5_4 features, raw and x 1/12.75
        feats = VGGFeatures("vgg19", ("relu5_4",), str(vgg), "imagenet", input_range=1.0)
        fo, fg = feats(out)["relu5_4"], feats(gt)["relu5_4"]
        check_gan_key(manifest, exp, "vgg54_mse_paper", torch.mean((fo - fg) ** 2))
        scaled = torch.mean((fo / 12.75 - fg / 12.75) ** 2)
        check_gan_key(manifest, exp, "vgg54_mse_paper_rescaled_1_12.75", scaled)
        predictions = model(batch)
    tol = gan_fixture_tolerance(manifest, "G_out") * 255
    for p, y in zip(predictions, exp["G_out"]):
        assert p["image"].shape == (3, 128, 128)
        want = np.clip(y, 0, 1) * 255
        assert float((p["image"] - torch.from_numpy(want)).abs().max()) <= tol
    if name == "esrgan_rrdb_x4":
        # the official test.py post-processing of image 0: clamp, RGB -> BGR, x255, round
        bgr = predictions[0]["image"].round().to(torch.uint8).permute(1, 2, 0).flip(2)
        err = np.abs(bgr.numpy().astype(int) - exp["test_py_uint8_bgr_0"].astype(int)).max()
        assert err <= gan_fixture_tolerance(manifest, "test_py_uint8_bgr_0")


def test_one_training_iteration_matches_the_official_step(setup):
    name, manifest, _, ins, exp, dst, vgg = setup
    cfg = _cfg(name, vgg)
    model = _model(cfg, dst).train()
    optimizers = TwoPlayerTrainer.build_optimizers(cfg, model)
    step = TwoPlayerStep(model, [_batch(ins)], optimizers["G"], optimizers["D"])
    d_logits = []
    model.netD.register_forward_hook(lambda m, a, out: d_logits.append(out.detach().clone()))
    with EventStorage(0) as storage:
        step.iter = 0
        step.run_step()
        logged = {k: v for k, (v, _) in storage.latest().items()}
    check_gan_key(manifest, exp, "G_train_out", model._cache["output"])
    for ours, key in (
        ("loss_g_pix", "loss_l_g_pix"),
        ("loss_g_percep", "loss_l_g_percep"),
        ("loss_g_gan", "loss_l_g_gan"),
        ("loss_d_real", "loss_l_d_real"),
        ("loss_d_fake", "loss_l_d_fake"),
    ):
        check_gan_key(manifest, exp, key, logged[ours])
    check_gan_key(manifest, exp, "loss_out_d_real", model._cache["out_d_real"])
    check_gan_key(manifest, exp, "loss_out_d_fake", model._cache["out_d_fake"])
    calls = sorted(k for k in exp if k.startswith("D_train_pred_"))
    assert len(d_logits) == len(calls) == {"srresnet_x4": 3, "esrgan_rrdb_x4": 5}[name]
    for key, logits in zip(calls, d_logits):
        check_gan_key(manifest, exp, key, logits)


@pytest.mark.parametrize("scheme", ["old_architecture_py_140595a", "basicsr_RRDBNet"])
def test_esrgan_key_schemes_convert_to_the_same_network(scheme, tmp_path):
    manifest, sds, ins, exp = load_gan_fixture("esrgan_rrdb_x4")
    renamed = {manifest["alt_key_schemes"][scheme][k]: v for k, v in sds["G"].items()}
    assert set(renamed) != set(sds["G"])
    torch.save(renamed, tmp_path / "RRDB_ESRGAN_x4.pth")
    # a lone file named as released (no role in its name) is the generator
    out, config = convert_checkpoint(
        "esrgan", [str(tmp_path / "RRDB_ESRGAN_x4.pth")], str(tmp_path / "o.pth"), True
    )
    assert set(out) == {f"netG.{k}" for k in sds["G"]}
    assert all(torch.equal(out[f"netG.{k}"], v) for k, v in sds["G"].items())
    assert (config["MODEL.GAN.N_BLOCKS"], config["MODEL.GAN.GROWTH_CHANNELS"]) == (23, 32)
    cfg = setup_cfg(CONFIGS["esrgan_rrdb_x4"], ["MODEL.DEVICE", "cpu"])
    cfg.defrost()
    cfg.MODEL.META_ARCHITECTURE = "SuperResolution"
    model = Trainer.build_model(cfg)
    incompatible = model.load_state_dict(torch.load(tmp_path / "o.pth")["model"], strict=False)
    assert not incompatible.missing_keys and not incompatible.unexpected_keys
    key = {"old_architecture_py_140595a": "G_out_old_architecture_py"}.get(
        scheme, "G_out_basicsr_rrdbnet"
    )
    with torch.no_grad():
        out = model.eval().netG(model.normalize(_batch(ins), "image", 3))
    check_gan_key(manifest, exp, key, out)


def test_generator_alone_converts_to_a_super_resolution_checkpoint(tmp_path):
    _, sds, _, _ = load_gan_fixture("srresnet_x4")
    torch.save({"params_ema": sds["G"], "params": {}}, tmp_path / "net_g.pth")
    out, config = convert_checkpoint(
        "msrresnet", [f"G={tmp_path / 'net_g.pth'}"], str(tmp_path / "o.pth"), True
    )
    assert len(out) == 74 and config["INPUT.SR.SCALE"] == 4
    assert (config["MODEL.GAN.NGF"], config["MODEL.GAN.N_BLOCKS"]) == (64, 16)


def test_a_discriminator_given_as_generator_is_refused_naming_the_key(tmp_path):
    _, sds, _, _ = load_gan_fixture("srresnet_x4")
    torch.save(sds["D"], tmp_path / "d.pth")
    with pytest.raises(CheckpointFormatError, match="not an RRDBNet checkpoint"):
        convert_checkpoint("esrgan", [f"G={tmp_path / 'd.pth'}"], str(tmp_path / "o.pth"))
    with pytest.raises(CheckpointFormatError, match="missing key 'conv_first.weight'"):
        convert_checkpoint("msrresnet", [f"G={tmp_path / 'd.pth'}"], str(tmp_path / "o.pth"))


def test_paper_srgan_config_gives_the_papers_vgg54_loss(tmp_path):
    """srgan_srresnet_x4_paper.yaml's perceptual loss (VGG19 relu5_4, MSE, features x 1/12.75)
    on the fixture's G_out vs gt is the official rescaled VGG54 value."""
    from vision_plugins.gan.perceptual import PerceptualLoss

    manifest, sds, ins, exp = load_gan_fixture("srresnet_x4")
    torch.save(sds["vgg19_features"], tmp_path / "vgg19_features.pth")
    cfg = setup_cfg(
        "configs/SuperResolution/srgan_srresnet_x4_paper.yaml",
        ["MODEL.DEVICE", "cpu", "MODEL.PERCEPTUAL.WEIGHTS", str(tmp_path / "vgg19_features.pth")],
    )
    loss = PerceptualLoss(cfg, input_range=1.0)
    gt = torch.stack([fixture_image(x) for x in ins["gt"]]) / 255
    with torch.no_grad():
        terms = loss(torch.from_numpy(exp["G_out"]), gt)
    weight = cfg.MODEL.GAN.LOSS.PERCEPTUAL_WEIGHT
    check_gan_key(manifest, exp, "vgg54_mse_paper_rescaled_1_12.75", weight * terms["content"])
