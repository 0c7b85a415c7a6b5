"""The perceptual-loss module: Gram matrix and TV by hand, layer taps against torchvision's VGG
indices (before / after the ReLU), ImageNet and Caffe preprocessing by hand, the frozen loss
network kept out of checkpoints and gradients, torchvision-layout files, and the official values
of the fast_style (VGG16 taps, style Grams) and srresnet_x4 (SRGAN paper VGG54) fixtures."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from torch import nn
from torch.nn import functional as F
from torchvision.models.vgg import cfgs, make_layers

from vision_plugins.gan import perceptual
from vision_plugins.gan.perceptual import (
    PerceptualLoss,
    VGGFeatures,
    add_perceptual_config,
    gram_matrix,
    load_vgg,
    total_variation,
    vgg_layer_names,
)

from ..parity import fixture_image, gan_fixture_tolerance, load_gan_fixture, requires_fixtures


@pytest.fixture
def warnings_seen(monkeypatch):
    seen = []
    monkeypatch.setattr(perceptual.logger, "warning", lambda msg, *a, **k: seen.append(msg))
    return seen


def _torchvision_features(arch, seed=0):
    torch.manual_seed(seed)
    letter = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}[arch]
    return make_layers(cfgs[letter]).eval()


def test_gram_matrix_by_hand():
    # one image, C=2 channels, 2x2 pixels: F = [[1,2,3,4],[0,1,0,-1]]
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, -1.0]]]])
    g = gram_matrix(f)
    # F Fᵀ = [[30, -2], [-2, 2]], divided by C·H·W = 8
    assert torch.allclose(g, torch.tensor([[[30.0, -2.0], [-2.0, 2.0]]]) / 8)
    assert g.shape == (1, 2, 2)


def test_total_variation_by_hand():
    x = torch.tensor([[[[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]]]])
    # horizontal |diffs| 1, 2, 0, 0 -> mean 0.75; vertical 2, 1, 1 -> mean 4/3
    assert total_variation(x).item() == pytest.approx(0.75 + 4 / 3)


@pytest.mark.parametrize("arch", ["vgg11", "vgg13", "vgg16", "vgg19"])
def test_layer_names_follow_torchvision_indices(arch):
    features = _torchvision_features(arch)
    names = vgg_layer_names(arch)
    assert len(names) == len(features)
    for name, module in zip(names, features):
        kind = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}[name[:4].rstrip("1")]
        assert isinstance(module, kind), (name, module)
    if arch == "vgg16":  # pytorch/examples' slices [0:4] [4:9] [9:16] [16:23]
        assert [names.index(n) for n in ("relu1_2", "relu2_2", "relu3_3", "relu4_3")] == [
            3,
            8,
            15,
            22,
        ]
    if arch == "vgg19":  # SRGAN's features.35 (after ReLU), ESRGAN's conv5_4 = features.34
        assert names.index("relu5_4") == 35 and names.index("conv5_4") == 34


def test_taps_equal_torchvision_features_before_and_after_relu(tmp_path):
    features = _torchvision_features("vgg16", seed=3)
    torch.save(features.state_dict(), tmp_path / "vgg16_features.pth")
    v = VGGFeatures(
        "vgg16", ("conv2_2", "relu2_2", "relu1_1"), str(tmp_path / "vgg16_features.pth")
    )
    assert len(v.net) == 9  # truncated after the deepest tap (relu2_2 = index 8)
    x = torch.rand(2, 3, 20, 24)
    out = v(x)
    assert list(out) == ["conv2_2", "relu2_2", "relu1_1"]
    with torch.no_grad():
        h = (x - torch.tensor(perceptual.IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(
            perceptual.IMAGENET_STD
        ).view(1, 3, 1, 1)
        want = {}
        for i, m in enumerate(features[:9]):
            h = m(h)
            want[i] = h.clone()
    assert torch.equal(out["conv2_2"], want[7])
    assert torch.equal(out["relu2_2"], want[8])
    assert torch.equal(out["relu1_1"], want[1])
    assert (out["conv2_2"] < 0).any()  # before the activation ...
    assert torch.equal(out["relu2_2"], out["conv2_2"].clamp(min=0))  # ... and after it


def test_imagenet_preprocessing_by_hand():
    v = VGGFeatures("vgg16", ("relu1_1",), weights="", input_range=255.0)
    x = torch.tensor([51.0, 102.0, 204.0]).view(1, 3, 1, 1)
    got = v.normalize(x).flatten().tolist()
    want = [(0.2 - 0.485) / 0.229, (0.4 - 0.456) / 0.224, (0.8 - 0.406) / 0.225]
    assert got == pytest.approx(want, rel=1e-6)
    v1 = VGGFeatures("vgg16", ("relu1_1",), weights="", input_range=1.0)
    assert v1.normalize(x / 255).flatten().tolist() == pytest.approx(want, rel=1e-6)


def test_caffe_preprocessing_by_hand():
    # BGR order, 0..255, minus the Caffe mean (B 103.939, G 116.779, R 123.68)
    x = torch.tensor([200.0, 100.0, 50.0]).view(1, 3, 1, 1)  # R, G, B
    v = VGGFeatures("vgg16", ("relu1_1",), preprocess="caffe", input_range=255.0)
    want = [50 - 103.939, 100 - 116.779, 200 - 123.68]
    assert v.normalize(x).flatten().tolist() == pytest.approx(want, rel=1e-6)
    v1 = VGGFeatures("vgg16", ("relu1_1",), preprocess="caffe", input_range=1.0)
    assert v1.normalize(x / 255).flatten().tolist() == pytest.approx(want, rel=1e-5)
    none = VGGFeatures("vgg16", ("relu1_1",), preprocess="none", input_range=255.0)
    assert torch.equal(none.normalize(x), x)


class _Holder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Conv2d(3, 3, 1)
        self.perceptual = PerceptualLoss(
            vgg=VGGFeatures("vgg16", ("relu1_2", "relu2_2")),
            layer_weights={"relu1_2": 1.0, "relu2_2": 1.0},
            style_weight=1.0,
        )


def test_frozen_network_not_in_state_dict_and_without_gradients():
    model = _Holder()
    assert set(model.state_dict()) == {"net.weight", "net.bias"}
    assert [n for n, _ in model.named_parameters()] == ["net.weight", "net.bias"]
    vgg = model.perceptual.vgg.net
    assert all(not p.requires_grad for p in vgg.parameters())
    model.train()
    assert not vgg.training  # always eval
    x = torch.rand(1, 3, 16, 16)
    losses = model.perceptual(model.net(x), x.flip(-1))
    sum(losses.values()).backward()
    assert model.net.weight.grad is not None and model.net.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in vgg.parameters())
    # .to() moves the hidden network with its holder
    model.to(torch.float64)
    assert all(p.dtype == torch.float64 for p in vgg.parameters())
    assert model.perceptual.vgg.mean.dtype == torch.float64


@pytest.mark.parametrize("layout", ["full", "features_only"])
def test_loads_torchvision_layout_files(tmp_path, layout):
    features = _torchvision_features("vgg16", seed=5)
    state = features.state_dict()
    if layout == "full":  # vgg16-397923af.pth: features.N.* and classifier.*
        state = {f"features.{k}": v for k, v in state.items()}
        state["classifier.0.weight"] = torch.zeros(2, 2)
    torch.save(state, tmp_path / "vgg.pth")
    net = load_vgg("vgg16", str(tmp_path / "vgg.pth"), depth=8)
    for key, value in net.state_dict().items():
        assert torch.equal(value, features.state_dict()[key])


def test_missing_key_error_names_file_and_key(tmp_path):
    state = _torchvision_features("vgg16").state_dict()
    del state["7.weight"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(KeyError, match=r"partial\.pth.*'7\.weight'.*conv2_2"):
        load_vgg("vgg16", str(tmp_path / "partial.pth"))
    # a vgg16 file given as vgg19: conv3_4 (features.16) does not exist in it
    torch.save(_torchvision_features("vgg16").state_dict(), tmp_path / "vgg16.pth")
    with pytest.raises((KeyError, ValueError), match="vgg16.pth"):
        load_vgg("vgg19", str(tmp_path / "vgg16.pth"))
    with pytest.raises(FileNotFoundError, match="MODEL.PERCEPTUAL.WEIGHTS"):
        load_vgg("vgg16", str(tmp_path / "absent.pth"))


def test_seeded_random_network_warns_once_naming_the_key(warnings_seen):
    a = load_vgg("vgg16", "", depth=3, seed=7)
    b = load_vgg("vgg16", "", depth=3, seed=7)
    c = load_vgg("vgg16", "", depth=3, seed=8)
    assert len(warnings_seen) == 3  # one per network built
    assert all("MODEL.PERCEPTUAL.WEIGHTS" in w for w in warnings_seen)
    assert torch.equal(a[0].weight, b[0].weight) and not torch.equal(a[0].weight, c[0].weight)
    # He init (fan-in): std sqrt(2 / (3 * 9)) for conv1_1, sqrt(2 / (64 * 9)) for conv1_2
    assert a[0].weight.std().item() == pytest.approx((2 / 27) ** 0.5, rel=0.15)
    assert a[2].weight.std().item() == pytest.approx((2 / (64 * 9)) ** 0.5, rel=0.05)


def test_bad_names_and_criteria_are_clear_errors():
    with pytest.raises(ValueError, match="relu5_4"):
        VGGFeatures("vgg16", ("relu5_4",))
    with pytest.raises(ValueError, match="MODEL.PERCEPTUAL.VGG='vgg18'"):
        VGGFeatures("vgg18", ("relu1_1",))
    with pytest.raises(ValueError, match="PREPROCESS"):
        VGGFeatures("vgg16", ("relu1_1",), preprocess="bgr")
    with pytest.raises(ValueError, match="L2loss"):
        PerceptualLoss(
            vgg=VGGFeatures("vgg16", ("relu1_1",)), layer_weights={"relu1_1": 1.0}, criterion="l2"
        )


def test_config_is_idempotent_and_builds_the_loss():
    cfg = get_cfg()
    add_perceptual_config(cfg)
    cfg.MODEL.PERCEPTUAL.LAYERS = ("relu1_2", "relu2_2")
    cfg.MODEL.PERCEPTUAL.LAYER_WEIGHTS = (0.5, 2.0)
    add_perceptual_config(cfg)  # keeps the edited values
    assert cfg.MODEL.PERCEPTUAL.LAYER_WEIGHTS == (0.5, 2.0)
    cfg.MODEL.PERCEPTUAL.VGG = "vgg16"
    loss = PerceptualLoss(cfg, input_range=255.0)
    assert loss.vgg.input_range == 255.0 and loss.content_layers == ("relu1_2", "relu2_2")
    assert dict(loss.layer_weights) == {"relu1_2": 0.5, "relu2_2": 2.0}
    cfg.MODEL.PERCEPTUAL.LAYER_WEIGHTS = (1.0,)
    with pytest.raises(ValueError, match="LAYER_WEIGHTS"):
        PerceptualLoss(cfg)


def test_loss_terms_by_hand():
    vgg = VGGFeatures("vgg16", ("relu1_2", "relu2_2"), seed=1)
    weights = OrderedDict([("relu1_2", 0.5), ("relu2_2", 2.0)])
    loss = PerceptualLoss(
        vgg=vgg,
        layer_weights=weights,
        content_layers=("relu2_2",),
        content_weight=3.0,
        style_weight=7.0,
        tv_weight=0.25,
        criterion="mse",
        feature_scale=0.5,
    )
    x, y = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    fx, fy = vgg(x), vgg(y)
    got = loss(x, y)
    content = 3.0 * 2.0 * F.mse_loss(fx["relu2_2"] * 0.5, fy["relu2_2"] * 0.5)
    style = 7.0 * sum(
        w * F.mse_loss(gram_matrix(fx[k]), gram_matrix(fy[k])) for k, w in weights.items()
    )
    assert got["content"].item() == pytest.approx(content.item(), rel=1e-5)
    assert got["style"].item() == pytest.approx(style.item(), rel=1e-5)
    assert got["tv"].item() == pytest.approx(0.25 * total_variation(x).item(), rel=1e-6)
    # a fixed style image: its Grams (batch 1) serve every image of the batch
    grams = loss.style_grams(y[:1])
    fixed = loss(x, y, style_grams=grams)["style"]
    want = 7.0 * sum(
        w * F.mse_loss(gram_matrix(fx[k]), gram_matrix(fy[k][:1]).expand(2, -1, -1))
        for k, w in weights.items()
    )
    assert fixed.item() == pytest.approx(want.item(), rel=1e-5)
    l1 = PerceptualLoss(vgg=vgg, layer_weights=weights)  # BasicSR defaults: l1, content only
    terms = l1(x, y)
    assert set(terms) == {"content"}
    want = sum(w * F.l1_loss(fx[k], fy[k]) for k, w in weights.items())
    assert terms["content"].item() == pytest.approx(want.item(), rel=1e-5)


@requires_fixtures
def test_fast_style_fixture_taps_and_grams(tmp_path):
    manifest, sds, ins, exp = load_gan_fixture("fast_style")
    # vgg16().features state_dict, and the same under the full-model prefix
    torch.save(sds["vgg16_features"], tmp_path / "features.pth")
    torch.save({f"features.{k}": v for k, v in sds["vgg16_features"].items()}, tmp_path / "f.pth")
    layers = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    for name in ("features.pth", "f.pth"):
        vgg = VGGFeatures("vgg16", layers, str(tmp_path / name), "imagenet", input_range=255.0)
        content = torch.stack([fixture_image(a) for a in ins["content"]])
        style = torch.stack([fixture_image(a) for a in ins["style"]])
        with torch.no_grad():
            fc, fs = vgg(content[:1]), vgg(style)
        for layer in layers:
            ours = fc[layer].numpy()
            err = np.abs(ours - exp[f"content_feat_{layer}"]).max()
            assert err <= gan_fixture_tolerance(manifest, f"content_feat_{layer}"), (layer, err)
            ours = gram_matrix(fs[layer]).numpy()
            err = np.abs(ours - exp[f"style_gram_{layer}"]).max()
            assert err <= gan_fixture_tolerance(manifest, f"style_gram_{layer}"), (layer, err)


@requires_fixtures
def test_srresnet_fixture_paper_vgg54(tmp_path):
    """The SRGAN paper's VGG5,4 (after the ReLU, MSE) and its x1/12.75 variant between the
    official generator output and the ground truth, through PerceptualLoss."""
    manifest, sds, ins, exp = load_gan_fixture("srresnet_x4")
    torch.save(sds["vgg19_features"], tmp_path / "vgg19.pth")
    cfg = get_cfg()
    add_perceptual_config(cfg)
    p = cfg.MODEL.PERCEPTUAL
    p.WEIGHTS, p.LAYERS, p.CRITERION = str(tmp_path / "vgg19.pth"), ("relu5_4",), "mse"
    gt = torch.stack([fixture_image(a) for a in ins["gt"]]) / 255
    out = torch.from_numpy(exp["G_out"])
    with torch.no_grad():
        got = PerceptualLoss(cfg)(out, gt)["content"].item()
        p.FEATURE_SCALE = 1 / 12.75
        rescaled = PerceptualLoss(cfg)(out, gt)["content"].item()
    assert abs(got - exp["vgg54_mse_paper"]) <= gan_fixture_tolerance(manifest, "vgg54_mse_paper")
    key = "vgg54_mse_paper_rescaled_1_12.75"
    assert abs(rescaled - exp[key]) <= gan_fixture_tolerance(manifest, key)
