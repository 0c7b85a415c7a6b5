"""The cyclegan_resnet9 parity fixture (README_gans.md): the official latest_net_{G_A,G_B,D_A,D_B}
files converted by ``tools/convert_weights.py --arch cyclegan`` (given their directory), loaded
into the model of the official horse2zebra config with zero missing / unexpected keys, give the
official test outputs and the official one-iteration training losses (G step, then both D
steps; pools of 50 still filling)."""

import pytest
import torch
from detectron2.utils.events import EventStorage

from vision_plugins.checkpoint import Checkpointer, CheckpointFormatError, convert_checkpoint
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.engine.gan_trainer import TwoPlayerStep, TwoPlayerTrainer

from ..parity import (
    check_gan_key,
    fixture_image,
    gan_fixture_tolerance,
    load_gan_fixture,
    requires_fixtures,
)
from ..tool_scripts import load_tool

pytestmark = requires_fixtures
CONFIG = "configs/CycleGAN/cyclegan_resnet9_horse2zebra.yaml"
NETS = ("G_A", "G_B", "D_A", "D_B")


@pytest.fixture(scope="module")
def fixture():
    return load_gan_fixture("cyclegan_resnet9")


@pytest.fixture(scope="module")
def official_dir(fixture, tmp_path_factory):
    _, sds, _, _ = fixture
    folder = tmp_path_factory.mktemp("cyclegan") / "horse2zebra"
    folder.mkdir()
    for net in NETS:
        torch.save(sds[net], folder / f"latest_net_{net}.pth")
    return folder


@pytest.fixture(scope="module")
def converted(official_dir):
    dst = official_dir.parent / "converted.pth"
    args = ["--arch", "cyclegan", "--src", str(official_dir), "--dst", str(dst)]
    assert load_tool("convert_weights").main(args) == 0
    return dst


def _model(converted):
    model = Trainer.build_model(setup_cfg(CONFIG, ["MODEL.DEVICE", "cpu"]))
    Checkpointer(model).load(str(converted))
    return model


def test_converted_file_matches_the_model_exactly(fixture, converted):
    _, sds, _, _ = fixture
    state = torch.load(converted, weights_only=True)
    incompatible = _model(converted).load_state_dict(state["model"], strict=False)
    assert not incompatible.missing_keys and not incompatible.unexpected_keys
    assert len(state["model"]) == sum(len(sds[n]) for n in NETS) == 116
    config = state["config"]
    assert config["MODEL.GAN.GENERATOR"] == "ResnetGenerator"
    assert (config["MODEL.GAN.N_BLOCKS"], config["MODEL.GAN.USE_DROPOUT"]) == (9, False)
    assert config["MODEL.GAN.NORM"] == "instance"


def test_test_outputs(fixture, converted):
    manifest, _, ins, exp = fixture
    model = _model(converted).eval()
    inputs = [{"image": fixture_image(ins["A"][0]), "image_B": fixture_image(ins["B"][0])}]
    with torch.no_grad():
        real_A = model.normalize(inputs, "image", 3)
        real_B = model.normalize(inputs, "image_B", 3)
        fake_B, fake_A = model.netG_A(real_A), model.netG_B(real_B)
        check_gan_key(manifest, exp, "test_fake_B", fake_B)
        check_gan_key(manifest, exp, "test_rec_A", model.netG_B(fake_B))
        check_gan_key(manifest, exp, "test_fake_A", fake_A)
        check_gan_key(manifest, exp, "test_rec_B", model.netG_A(fake_A))
        check_gan_key(manifest, exp, "D_A_real_B", model.netD_A(real_B))
        check_gan_key(manifest, exp, "D_B_real_A", model.netD_B(real_A))
        out = model(inputs)[0]
    for key, name in (("image", "test_fake_B"), ("image_B2A", "test_fake_A")):
        pixels = (torch.from_numpy(exp[name][0]) + 1) / 2 * 255
        assert (out[key] - pixels).abs().max() <= gan_fixture_tolerance(manifest, name) * 127.5


def test_one_training_iteration_matches_the_official_step(fixture, converted):
    manifest, _, ins, exp = fixture
    cfg = setup_cfg(CONFIG, ["MODEL.DEVICE", "cpu"])
    model = _model(converted).train()
    d_before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("netD")}
    optimizers = TwoPlayerTrainer.build_optimizers(cfg, model)
    batch = [{"image": fixture_image(ins["A"][0]), "image_B": fixture_image(ins["B"][0])}]
    step = TwoPlayerStep(model, [batch], optimizers["G"], optimizers["D"])
    seen = {}
    # the official D losses are computed after the G step, on D weights it did not change

    def d_untouched(module, args):
        seen.setdefault(
            "D_A", torch.equal(module.model[0].weight, d_before["netD_A.model.0.weight"])
        )

    model.netD_A.register_forward_pre_hook(d_untouched)
    with EventStorage(0) as storage:
        step.iter = 0
        step.run_step()
        logged = {k: v for k, (v, _) in storage.latest().items()}
    assert seen["D_A"]
    for key in ("loss_G_A", "loss_G_B", "loss_cycle_A", "loss_cycle_B", "loss_idt_A"):
        check_gan_key(manifest, exp, key, logged[key])
    check_gan_key(manifest, exp, "loss_idt_B", logged["loss_idt_B"])
    g_terms = ("loss_G_A", "loss_G_B", "loss_cycle_A", "loss_cycle_B", "loss_idt_A", "loss_idt_B")
    check_gan_key(manifest, exp, "loss_G", sum(logged[k] for k in g_terms))
    check_gan_key(manifest, exp, "loss_D_A", logged["loss_D_A"])
    check_gan_key(manifest, exp, "loss_D_B", logged["loss_D_B"])
    check_gan_key(manifest, exp, "train_idt_A", model._cache["idt_A"])
    check_gan_key(manifest, exp, "train_idt_B", model._cache["idt_B"])


def test_old_checkpoints_instance_norm_statistics_are_dropped(fixture, tmp_path):
    """Checkpoints of older official versions carry InstanceNorm running stats."""
    _, sds, _, _ = fixture
    old = dict(sds["G_A"])
    old["model.2.running_mean"] = torch.zeros(64)
    old["model.2.running_var"] = torch.ones(64)
    old["model.2.num_batches_tracked"] = torch.tensor(5)
    torch.save(old, tmp_path / "latest_net_G.pth")
    out = convert_checkpoint(
        "cyclegan", [str(tmp_path / "latest_net_G.pth")], str(tmp_path / "o.pth")
    )
    assert set(out) == {f"netG_A.{k}" for k in sds["G_A"]}


def test_dropout_is_read_from_the_keys(tmp_path):
    from vision_plugins.gan import ResnetGenerator

    net = ResnetGenerator(3, 3, ngf=8, norm="instance", use_dropout=True, n_blocks=2)
    torch.save(net.state_dict(), tmp_path / "latest_net_G_A.pth")
    _, config = convert_checkpoint(
        "cyclegan", [str(tmp_path / "latest_net_G_A.pth")], str(tmp_path / "o.pth"), True
    )
    assert config["MODEL.GAN.USE_DROPOUT"] is True and config["MODEL.GAN.N_BLOCKS"] == 2
    assert config["MODEL.GAN.NGF"] == 8


def test_a_unet_given_as_d_a_is_refused_naming_the_key(fixture, tmp_path):
    from vision_plugins.gan import UnetGenerator

    torch.save(UnetGenerator(3, 3, 5, ngf=4).state_dict(), tmp_path / "u.pth")
    with pytest.raises(CheckpointFormatError, match="'model.model.0.weight' is not a discrimin"):
        convert_checkpoint("cyclegan", [f"D_A={tmp_path / 'u.pth'}"], str(tmp_path / "o.pth"))
    torch.save(UnetGenerator(3, 3, 5, ngf=4).state_dict(), tmp_path / "v.pth")
    with pytest.raises(CheckpointFormatError, match="cannot tell which network"):
        convert_checkpoint(
            "cyclegan", [str(tmp_path / "u.pth"), str(tmp_path / "v.pth")], str(tmp_path / "o.pth")
        )
    # a lone unnamed file is the released one-direction generator (role G -> netG_A)
    out = convert_checkpoint("cyclegan", [str(tmp_path / "u.pth")], str(tmp_path / "o.pth"))
    assert "netG_A.model.model.0.weight" in out
