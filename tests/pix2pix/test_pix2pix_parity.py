"""The pix2pix_unet256 parity fixture (README_gans.md): the official latest_net_G.pth /
latest_net_D.pth converted by ``tools/convert_weights.py --arch pix2pix``, loaded into the model
of the official facades config with zero missing / unexpected keys, give the official outputs --
``--eval`` and the default stochastic test mode (dropout masks replayed) -- and the official
one-iteration training objectives, D's Adam step before G's loss included."""

import os

import pytest
import torch
from detectron2.utils.events import EventStorage

from vision_plugins.checkpoint import Checkpointer
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.engine.gan_trainer import TwoPlayerStep, TwoPlayerTrainer

from ..parity import (
    check_gan_key,
    fixture_image,
    gan_fixture_tolerance,
    load_gan_fixture,
    replay_dropout,
    requires_fixtures,
)
from ..tool_scripts import load_tool

pytestmark = requires_fixtures
CONFIG = "configs/Pix2Pix/pix2pix_unet256_facades.yaml"


@pytest.fixture(scope="module")
def fixture():
    return load_gan_fixture("pix2pix_unet256")


@pytest.fixture(scope="module")
def converted(fixture, tmp_path_factory):
    manifest, sds, _, _ = fixture
    tmp = tmp_path_factory.mktemp("pix2pix")
    for net in ("G", "D"):
        torch.save(sds[net], tmp / f"latest_net_{net}.pth")
    dst = tmp / "converted.pth"
    args = ["--arch", "pix2pix", "--src", str(tmp / "latest_net_G.pth")]
    args += [str(tmp / "latest_net_D.pth"), "--dst", str(dst)]
    assert load_tool("convert_weights").main(args) == 0
    return dst


def _model(converted, *opts):
    cfg = setup_cfg(CONFIG, ["MODEL.DEVICE", "cpu", *opts])
    model = Trainer.build_model(cfg)
    Checkpointer(model).load(str(converted))
    return model


def test_converted_file_matches_the_model_exactly(fixture, converted):
    manifest, sds, _, _ = fixture
    state = torch.load(converted, weights_only=True)
    model = _model(converted)
    incompatible = model.load_state_dict(state["model"], strict=False)
    assert not incompatible.missing_keys and not incompatible.unexpected_keys
    assert len(state["model"]) == len(sds["G"]) + len(sds["D"]) == 104
    assert state["config"]["MODEL.GAN.GENERATOR"] == "UnetGenerator"
    assert state["config"]["MODEL.GAN.NUM_DOWNS"] == 8
    assert state["config"]["MODEL.GAN.NORM"] == "batch"


def test_eval_mode_outputs(fixture, converted):
    manifest, _, ins, exp = fixture
    model = _model(converted, "MODEL.GAN.TEST_TRAIN_MODE", "False").eval()
    inputs = [{"image": fixture_image(ins["A"][0]), "target": fixture_image(ins["B"][0])}]
    with torch.no_grad():
        real_A = model.normalize(inputs, "image", 3)
        real_B = model.normalize(inputs, "target", 3)
        fake = model.netG(real_A)
        check_gan_key(manifest, exp, "G_eval", fake)
        check_gan_key(manifest, exp, "D_eval_real", model.netD(torch.cat([real_A, real_B], 1)))
        check_gan_key(
            manifest, exp, "D_eval_fake_of_G_eval", model.netD(torch.cat([real_A, fake], 1))
        )
        out = model(inputs)[0]["image"]
    # the public output is the official tensor2im scaling of G_eval
    pixels = (torch.from_numpy(exp["G_eval"][0]) + 1) / 2 * 255
    assert (out - pixels).abs().max() <= gan_fixture_tolerance(manifest, "G_eval") * 127.5


def test_default_test_mode_is_the_official_stochastic_one(fixture, converted):
    manifest, _, ins, exp = fixture
    model = _model(converted).eval()  # TEST_TRAIN_MODE True: the config's default
    before = {k: v.clone() for k, v in model.state_dict().items()}
    handles, used = replay_dropout(model.netG, manifest, exp, "test")
    with torch.no_grad():
        out = model([{"image": fixture_image(ins["A"][0])}])[0]["image"]
    for h in handles:
        h.remove()
    assert len(used) == 3
    pixels = (torch.from_numpy(exp["G_test_train_mode"][0]) + 1) / 2 * 255
    err = (out - pixels).abs().max()
    assert err <= gan_fixture_tolerance(manifest, "G_test_train_mode") * 127.5, err
    # the running statistics are not touched by the train-mode test pass
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert not model.training and not model.netG.training


def test_one_training_iteration_matches_the_official_step(fixture, converted):
    manifest, _, ins, exp = fixture
    cfg = setup_cfg(CONFIG, ["MODEL.DEVICE", "cpu"])
    model = _model(converted).train()
    optimizers = TwoPlayerTrainer.build_optimizers(cfg, model)
    handles, used = replay_dropout(model.netG, manifest, exp, "train")
    d_logits = []
    model.netD.register_forward_hook(lambda m, a, out: d_logits.append(out.detach().clone()))
    batch = [{"image": fixture_image(ins["A"][0]), "target": fixture_image(ins["B"][0])}]
    step = TwoPlayerStep(model, [batch], optimizers["G"], optimizers["D"])
    with EventStorage(0) as storage:
        step.iter = 0
        step.run_step()
        logged = {k: v for k, (v, _) in storage.latest().items()}
    assert len(used) == 3
    check_gan_key(manifest, exp, "G_train_fake_B", model._cache["fake_B"])
    # D's calls: fake then real before its Adam step; then G's loss on the *updated* D
    check_gan_key(manifest, exp, "D_pred_fake_pre_step", d_logits[0])
    check_gan_key(manifest, exp, "D_pred_real_pre_step", d_logits[1])
    check_gan_key(manifest, exp, "D_pred_fake_post_step", d_logits[2])
    # loss_D_fake / loss_D_real are logged with their official ½ weight
    check_gan_key(manifest, exp, "loss_D_fake", 2 * logged["loss_D_fake"])
    check_gan_key(manifest, exp, "loss_D_real", 2 * logged["loss_D_real"])
    check_gan_key(manifest, exp, "loss_D", logged["loss_D_fake"] + logged["loss_D_real"])
    check_gan_key(manifest, exp, "loss_G_GAN", logged["loss_G_GAN"])
    check_gan_key(manifest, exp, "loss_G_L1", logged["loss_G_L1"])
    check_gan_key(manifest, exp, "loss_G", logged["loss_G_GAN"] + logged["loss_G_L1"])


def test_converter_refuses_a_discriminator_given_as_generator(fixture, tmp_path):
    from vision_plugins.checkpoint import CheckpointFormatError, convert_checkpoint

    _, sds, _, _ = fixture
    torch.save(sds["D"], tmp_path / "d.pth")
    with pytest.raises(CheckpointFormatError, match="'model.0.weight' is not a generator key"):
        convert_checkpoint("pix2pix", [f"G={tmp_path / 'd.pth'}"], str(tmp_path / "o.pth"))


def test_unconverted_file_suggests_the_converter(fixture, tmp_path):
    from vision_plugins.checkpoint import WeightsMismatchError

    _, sds, _, _ = fixture
    torch.save(sds["G"], tmp_path / "latest_net_G.pth")
    model = Trainer.build_model(setup_cfg(CONFIG, ["MODEL.DEVICE", "cpu"]))
    with pytest.raises(WeightsMismatchError, match="--arch pix2pix"):
        Checkpointer(model).load(str(tmp_path / "latest_net_G.pth"))


def test_config_file_is_the_official_recipe():
    cfg = setup_cfg(CONFIG)
    assert os.path.basename(CONFIG).startswith("pix2pix_unet256")
    assert cfg.SOLVER.MAX_ITER == 200 * 400 and cfg.INPUT.GAN.DIRECTION == "BtoA"
    assert (cfg.MODEL.GAN.LOSS.MODE, cfg.MODEL.GAN.LOSS.LAMBDA_L1) == ("vanilla", 100.0)
