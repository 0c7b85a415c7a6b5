"""The fast_style parity fixture (README_gans.md): the pytorch/examples TransformerNet file
converted by ``tools/convert_weights.py --arch fast_neural_style`` (InstanceNorm running stats of
old files stripped; zero missing / unexpected keys) and torchvision's VGG16 features file give the
official outputs: the training body of one batch (transformer output, content / style / total
loss, VGG taps of the normalised content, style Grams) and ``stylize``'s forward."""

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
    requires_fixtures,
)
from ..tool_scripts import load_tool

pytestmark = requires_fixtures
CONFIG = "configs/FastNeuralStyle/fast_neural_style_coco.yaml"
LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


@pytest.fixture(scope="module")
def fixture():
    return load_gan_fixture("fast_style")


@pytest.fixture(scope="module")
def files(fixture, tmp_path_factory):
    _, sds, _, _ = fixture
    tmp = tmp_path_factory.mktemp("fast_style")
    old = dict(sds["transformer"])  # an old (torch < 0.4) file: IN layers with running stats
    for key in list(old):
        if key.endswith(".weight") and ".in" in f".{key}" and old[key].dim() == 1:
            module = key[: -len(".weight")]
            old[f"{module}.running_mean"] = torch.zeros_like(old[key])
            old[f"{module}.running_var"] = torch.ones_like(old[key])
    torch.save(old, tmp / "mosaic.pth")
    torch.save(sds["vgg16_features"], tmp / "vgg16_features.pth")
    dst = tmp / "converted.pth"
    args = ["--arch", "fast_neural_style", "--src", str(tmp / "mosaic.pth"), "--dst", str(dst)]
    assert load_tool("convert_weights").main(args) == 0
    return dst, tmp / "vgg16_features.pth", len(old)


def _model(files):
    converted, vgg, _ = files
    cfg = setup_cfg(CONFIG, ["MODEL.DEVICE", "cpu", "MODEL.PERCEPTUAL.WEIGHTS", str(vgg)])
    model = Trainer.build_model(cfg)
    Checkpointer(model).load(str(converted))
    return cfg, model


def _batch(ins):
    return [{"image": fixture_image(a)} for a in ins["content"]]


def test_converted_file_matches_the_model_exactly(fixture, files):
    _, sds, _, _ = fixture
    state = torch.load(files[0], weights_only=True)
    assert files[2] == 62 + 2 * 15  # the old file's 15 InstanceNorm layers had running stats
    _, model = _model(files)
    incompatible = model.load_state_dict(state["model"], strict=False)
    assert not incompatible.missing_keys and not incompatible.unexpected_keys
    assert set(state["model"]) == {f"transformer.{k}" for k in sds["transformer"]}
    assert len(state["model"]) == len(model.state_dict()) == 62  # no VGG key
    assert state["config"]["MODEL.GAN.NGF"] == 32 and state["config"]["MODEL.GAN.N_BLOCKS"] == 5


def test_training_body_matches_the_official_one(fixture, files):
    manifest, _, ins, exp = fixture
    _, model = _model(files)
    model.train()
    model.set_style(fixture_image(ins["style"][0])[None])
    batch = _batch(ins)
    cache = model(batch, phase="generate")
    check_gan_key(manifest, exp, "transformer_out", cache["stylized"])
    losses = model(batch, phase="G")
    assert set(losses) == {"loss_content", "loss_style"}
    check_gan_key(manifest, exp, "content_loss", losses["loss_content"])
    check_gan_key(manifest, exp, "style_loss", losses["loss_style"])
    check_gan_key(manifest, exp, "total_loss", sum(losses.values()))
    with torch.no_grad():
        feats = model.perceptual.vgg(cache["content"][:1])
    for layer in LAYERS:
        check_gan_key(manifest, exp, f"content_feat_{layer}", feats[layer])
        check_gan_key(manifest, exp, f"style_gram_{layer}", model.style_grams()[layer])
    # the kept batch is not divided in place (official normalize_batch is): still 0..255
    assert torch.equal(cache["content"], torch.stack([b["image"] for b in batch]))


def test_one_training_step_logs_the_official_losses(fixture, files):
    manifest, _, ins, exp = fixture
    cfg, model = _model(files)
    model.train()
    model.set_style(fixture_image(ins["style"][0])[None])
    optimizers = TwoPlayerTrainer.build_optimizers(cfg, model)
    assert set(optimizers) == {"G"}  # one player
    assert len(optimizers["G"].param_groups[0]["params"]) == 62  # the VGG is not optimised
    before = {k: v.clone() for k, v in model.state_dict().items()}
    step = TwoPlayerStep(model, [_batch(ins)], optimizers["G"])
    with EventStorage(0) as storage:
        step.iter = 0
        step.run_step()
        logged = {k: v for k, (v, _) in storage.latest().items()}
    check_gan_key(manifest, exp, "content_loss", logged["loss_content"])
    check_gan_key(manifest, exp, "style_loss", logged["loss_style"])
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert len(changed) == 62


def test_stylize_output(fixture, files):
    manifest, _, ins, exp = fixture
    _, model = _model(files)
    model.eval()
    batch = _batch(ins)[:1]
    with torch.no_grad():
        raw = model.transformer(model.content_batch(batch))
        out = model(batch)[0]["image"]
    check_gan_key(manifest, exp, "stylize_out", raw)
    # the public output: clamped to 0..255 as save_image does (the raw output exceeds 255 here)
    assert exp["stylize_out"].max() > 255
    want = torch.from_numpy(exp["stylize_out"][0]).clamp(0, 255)
    assert (out - want).abs().max() <= gan_fixture_tolerance(manifest, "stylize_out")


def test_converter_refuses_another_network(fixture, tmp_path):
    from vision_plugins.checkpoint import CheckpointFormatError, convert_checkpoint

    _, sds, _, _ = fixture
    torch.save(sds["vgg16_features"], tmp_path / "vgg.pth")
    with pytest.raises(CheckpointFormatError, match="conv1.conv2d"):
        convert_checkpoint("fast_neural_style", str(tmp_path / "vgg.pth"), str(tmp_path / "o.pth"))


def test_unconverted_file_suggests_the_converter(fixture, files, tmp_path):
    from vision_plugins.checkpoint import WeightsMismatchError

    _, sds, _, _ = fixture
    torch.save(sds["transformer"], tmp_path / "mosaic.pth")
    _, model = _model(files)
    with pytest.raises(WeightsMismatchError, match="--arch fast_neural_style"):
        Checkpointer(model).load(str(tmp_path / "mosaic.pth"))


def test_config_file_is_the_official_recipe():
    cfg = setup_cfg(CONFIG)
    p = cfg.MODEL.PERCEPTUAL
    assert (p.VGG, p.LAYERS, p.CONTENT_LAYERS) == ("vgg16", LAYERS, ("relu2_2",))
    assert (p.CONTENT_WEIGHT, p.STYLE_WEIGHT, p.CRITERION) == (1e5, 1e10, "mse")
    assert (cfg.SOLVER.IMS_PER_BATCH, cfg.SOLVER.GAN.BASE_LR_G, cfg.INPUT.STYLE.SIZE) == (
        4,
        1e-3,
        256,
    )
    assert cfg.SOLVER.MAX_ITER == 2 * -(-82783 // 4)
