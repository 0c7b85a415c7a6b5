"""Translation metrics (L1 / PSNR / SSIM / FID / KID) against hand-computed values and formulas,
the feature networks, and the evaluator through ``build_evaluator``."""

import logging
import math
import socket

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from scipy import linalg
from torch import nn

from vision_plugins.evaluation import build_evaluator, translation
from vision_plugins.evaluation.translation import (
    FEATURES_KEY,
    InceptionPool3,
    SeededFeatures,
    TranslationEvaluator,
    add_translation_eval_config,
    diversity,
    frechet_distance,
    gradient_magnitude,
    kernel_inception_distance,
    load_fid_features,
    mean_pairwise_l1,
    paired_metrics,
    sharpness,
)

C1 = (0.01 * 255) ** 2


def _image(seed, shape=(3, 32, 40)):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=g).double()


# ---------------------------------------------------------------------------- paired metrics


def test_constant_offset_by_formula():
    target = _image(0).clamp(0, 240)
    m = paired_metrics(target + 10, target)
    assert m["L1"][0] == pytest.approx(10 / 255, rel=1e-12)
    # torchmetrics takes log(255) and log(10) in float32: about 1e-7 relative
    assert m["PSNR"][0] == pytest.approx(10 * math.log10(255**2 / 100), rel=1e-6)
    assert m["SSIM"][0] < 1


def test_identical_images_and_inf_psnr():
    target = _image(1)
    m = paired_metrics(target, target)
    assert m["L1"][0] == 0 and m["SSIM"][0] == pytest.approx(1, abs=1e-12)
    assert m["PSNR"][0] == math.inf


def test_ssim_of_flat_images_by_formula():
    """Constant images: every variance is 0, SSIM = (2 μx μy + C1) / (μx² + μy² + C1)."""
    x, y = torch.full((3, 20, 24), 100.0), torch.full((3, 20, 24), 110.0)
    expected = (2 * 100 * 110 + C1) / (100**2 + 110**2 + C1)
    assert paired_metrics(x, y)["SSIM"][0] == pytest.approx(expected, rel=1e-12)


def test_ssim_matches_skimage():
    skimage_metrics = pytest.importorskip("skimage.metrics")
    g = torch.Generator().manual_seed(2)
    target = _image(3, (2, 3, 40, 50))
    pred = target + torch.randn(target.shape, generator=g, dtype=torch.float64) * 30
    pred = pred.clamp(0, 255).round()
    ours = paired_metrics(pred, target)["SSIM"]
    for i in range(2):
        ref = skimage_metrics.structural_similarity(
            pred[i].permute(1, 2, 0).numpy(), target[i].permute(1, 2, 0).numpy(),
            channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
            data_range=255,
        )  # fmt: skip
        assert ours[i] == pytest.approx(ref, abs=1e-10)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        paired_metrics(torch.zeros(3, 16, 16), torch.zeros(3, 16, 17))


# ---------------------------------------------------------------------------- sharpness, diversity


def _ramp(slope, shape=(3, 5, 6), vertical=0.0):
    """Ramp ``slope·x + vertical·y`` in every channel (its grey image: the weights sum to 1)."""
    y, x = torch.meshgrid(torch.arange(shape[1]), torch.arange(shape[2]), indexing="ij")
    return (slope * x + vertical * y).double().expand(shape).clone()


def test_gradient_magnitude_by_hand():
    assert gradient_magnitude(_ramp(2.0)) == pytest.approx(2.0, rel=1e-12)
    assert gradient_magnitude(_ramp(3.0, vertical=4.0)) == pytest.approx(5.0, rel=1e-12)
    assert gradient_magnitude(torch.full((3, 4, 4), 77.0)) == 0
    # grey = 0.299 R + 0.587 G + 0.114 B: a ramp in the green channel only
    green = torch.zeros(3, 4, 5, dtype=torch.float64)
    green[1] = _ramp(10.0, (1, 4, 5))[0]
    assert gradient_magnitude(green) == pytest.approx(5.87, rel=1e-12)
    # a vertical step between rows 1 and 2 of a 4 x 4 one-channel image: the forward differences
    # exist on the 3 x 3 top-left pixels; |dy| = 90 on the 3 pixels of row 1
    step = torch.zeros(1, 4, 4)
    step[:, 2:] = 90
    assert gradient_magnitude(step) == pytest.approx(90 * 3 / 9, rel=1e-12)
    with pytest.raises(ValueError, match="2 x 2"):
        gradient_magnitude(torch.zeros(3, 1, 5))


def test_sharpness_by_hand():
    """Outputs: ramps of slope 1 and 3 (mean 2); targets: slopes 4 and 4: 2 / 4."""
    fakes = [gradient_magnitude(_ramp(1.0)), gradient_magnitude(_ramp(3.0))]
    reals = [gradient_magnitude(_ramp(4.0))] * 2
    assert sharpness(fakes, reals) == pytest.approx(0.5, rel=1e-12)
    assert sharpness(reals, reals) == 1
    assert math.isnan(sharpness([], reals)) and math.isnan(sharpness([0.0], [0.0]))


def test_diversity_by_hand():
    """Constant images 0, 10, 30 → pairwise L1 10, 30, 20 (mean 20); targets 0, 20, 60 → 40."""
    fakes = [torch.full((3, 4, 4), v, dtype=torch.uint8) for v in (0, 10, 30)]
    reals = [torch.full((3, 4, 4), v, dtype=torch.uint8) for v in (0, 20, 60)]
    assert mean_pairwise_l1(fakes) == pytest.approx(20 / 255, rel=1e-12)
    assert diversity(fakes, reals) == pytest.approx(0.5, rel=1e-12)
    # one pixel of one image differs by 255: its pair distance is 255 / 48 grey levels
    x = torch.zeros(2, 3, 4, 4)
    x[1, 0, 0, 0] = 255
    assert mean_pairwise_l1(list(x)) == pytest.approx(1 / 48, rel=1e-12)
    # images of another shape are not paired with these; a single image has no pair
    assert mean_pairwise_l1(fakes + [torch.zeros(3, 5, 5)]) == pytest.approx(20 / 255)
    assert math.isnan(mean_pairwise_l1(fakes[:1])) and math.isnan(diversity(fakes, reals[:1]))


def test_evaluator_sharpness_and_diversity_by_hand():
    """Outputs = ramps of slopes 1, 2, 3 (+ offsets 0, 10, 20), targets = ramps of slope 4
    (+ offsets 0, 40, 80): sharpness 2 / 4; pairwise L1 of the outputs: |Δslope|·mean(x) +
    Δoffset ..., computed here by hand on the pixels."""
    shape = (3, 6, 6)
    fakes = [_ramp(s, shape) + o for s, o in ((1, 0), (2, 10), (3, 20))]
    reals = [_ramp(4, shape) + o for o in (0, 40, 80)]
    inputs = [{"image_id": i, "target": r.float()} for i, r in enumerate(reals)]
    outputs = [{"image": f.float()} for f in fakes]
    res = _run(TranslationEvaluator("x"), inputs, outputs)
    assert res["sharpness"] == pytest.approx(0.5, rel=1e-12)
    x = torch.arange(6.0).mean()  # mean column index: 2.5
    # |(s_i - s_j)·x + (o_i - o_j)| is positive everywhere, so the mean is (Δs)·2.5 + Δo
    fake_pairs = [(1 * x + 10), (2 * x + 20), (1 * x + 10)]
    real_pairs = [40.0, 80.0, 40.0]
    expected = float(sum(fake_pairs) / sum(real_pairs))
    assert res["diversity"] == pytest.approx(expected, rel=1e-12)


def test_collapsed_outputs_have_zero_diversity():
    """Every input gives the same output (mode collapse): diversity 0, while L1 / PSNR alone
    still look moderate; varied outputs score near 1."""
    inputs, outputs = _samples(6)
    collapsed = [{"image": outputs[0]["image"].clone()} for _ in outputs]
    res = _run(TranslationEvaluator("x"), inputs, collapsed)
    assert res["diversity"] == 0
    varied = _run(TranslationEvaluator("x"), inputs, outputs)
    assert 0.9 < varied["diversity"] < 1.1  # targets + noise: about as varied as the targets


def test_diversity_uses_the_first_images_in_key_order():
    """DIVERSITY_IMAGES = 3: the first three image ids (whatever the processing order, each
    process keeping at most three) give the value."""
    inputs, outputs = _samples(7, seed=5)
    order = [6, 2, 5, 0, 4, 1, 3]
    evaluator = TranslationEvaluator("x", diversity_images=3)
    res = _run(evaluator, [inputs[i] for i in order], [outputs[i] for i in order], batch=3)
    fakes = [outputs[i]["image"].floor() for i in range(3)]
    reals = [inputs[i]["target"] for i in range(3)]
    assert res["diversity"] == pytest.approx(diversity(fakes, reals), rel=1e-6)
    kept = [k for k, r in evaluator._records.items() if "pixels" in r["A2B"]]
    assert sorted(kept) == [0, 1, 2]


def test_b2a_sharpness_and_diversity():
    inputs, outputs = _samples(4, b2a=True)
    for o in outputs:
        o["image_B2A"] = outputs[0]["image_B2A"].clone()  # B -> A collapsed
    res = _run(TranslationEvaluator("x"), inputs, outputs)
    assert res["diversity_B2A"] == 0 and res["diversity"] > 0.5
    fake = np.mean([gradient_magnitude(outputs[0]["image_B2A"])])
    real = np.mean([gradient_magnitude(i["target_B"]) for i in inputs])
    assert res["sharpness_B2A"] == pytest.approx(fake / real, rel=1e-12)


# ---------------------------------------------------------------------------- FID / KID


def _closed_form_fid(real, fake):
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_fid_equals_the_closed_form_on_gaussian_features():
    rng = np.random.default_rng(0)
    d = 4
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    cov1, cov2 = a @ a.T + np.eye(d), b @ b.T / 2 + np.eye(d)
    mu1, mu2 = np.zeros(d), np.arange(d) / 2.0
    real = rng.multivariate_normal(mu1, cov1, size=4000)
    fake = rng.multivariate_normal(mu2, cov2, size=4000)
    fid = frechet_distance(real, fake)
    # the estimator: the closed form of the sample means and (n - 1) covariances, float64
    assert fid == pytest.approx(_closed_form_fid(real, fake), rel=1e-6)
    # ... which estimates the distance of the true Gaussians
    population = ((mu1 - mu2) ** 2).sum() + np.trace(
        cov1 + cov2 - 2 * linalg.sqrtm(cov1 @ cov2).real
    )
    assert fid == pytest.approx(population, rel=0.1)
    assert frechet_distance(real, real) == pytest.approx(0, abs=1e-6)


def _poly(x, y):
    return (x @ y / len(x) + 1.0) ** 3


def test_kid_is_the_unbiased_mmd_with_the_cubic_kernel():
    x = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, -1.0]])
    y = np.array([[1.0, 1.0], [0.5, 0.0], [-1.0, 3.0]])
    m = 3
    kxx = sum(_poly(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    kyy = sum(_poly(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    kxy = sum(_poly(x[i], y[j]) for i in range(m) for j in range(m))
    expected = (kxx + kyy) / (m * (m - 1)) - 2 * kxy / m**2
    # subsets of all three samples: every subset gives the same value
    mean, std = kernel_inception_distance(x, y, subset_size=3, subsets=5)
    assert mean == pytest.approx(expected, rel=1e-12) and std == pytest.approx(0, abs=1e-12)


def test_kid_subsets_are_seeded_and_leave_the_global_rng_alone():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(20, 3)), rng.normal(1, size=(20, 3))
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = kernel_inception_distance(x, y, subset_size=5, seed=7)
    assert torch.rand(1) == before
    assert kernel_inception_distance(x, y, subset_size=5, seed=7) == first
    assert kernel_inception_distance(x, y, subset_size=5, seed=8) != first
    assert first[1] > 0


# ---------------------------------------------------------------------------- feature networks


class MeanColour(nn.Module):
    """Features = the mean colour (D = 3), so FID can be checked on the images' means."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


class MeanColourWithFlag(nn.Module):
    def forward(self, x, return_features: bool = False):
        y = x.mean(dim=(2, 3))
        return y if return_features else -y


def test_seeded_features_are_deterministic_and_leave_the_global_rng_alone():
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    a, b = SeededFeatures(3), SeededFeatures(3)
    assert torch.rand(1) == before
    x = _image(4, (2, 3, 32, 32)).float()
    assert torch.equal(a(x), b(x)) and a(x).shape == (2, SeededFeatures.num_features)
    assert not torch.equal(SeededFeatures(4)(x), a(x))


def test_torchscript_features_round_trip(tmp_path):
    x = _image(5, (2, 3, 16, 16)).float()
    for module in (MeanColour(), MeanColourWithFlag()):
        path = str(tmp_path / f"{type(module).__name__}.pt")
        torch.jit.script(module).save(path)
        assert torch.allclose(load_fid_features(path)(x), x.mean(dim=(2, 3)))


def test_missing_or_unreadable_feature_file_names_the_key_and_path(tmp_path):
    missing = str(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError, match=f"{FEATURES_KEY}.*nope.pt"):
        load_fid_features(missing)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match=f"{FEATURES_KEY}.*bad.pth"):
        load_fid_features(str(bad))
    cfg = _cfg(FID_FEATURES=missing)
    with pytest.raises(FileNotFoundError, match=FEATURES_KEY):
        TranslationEvaluator(cfg, "any")


def test_inception_state_dict_features(tmp_path):
    """A torchvision-layout Inception-v3 state_dict → 2048-d pool3 of torchvision's network on
    the [-1, 1] image resized to 299 (bilinear); a 1008-class fc (the TF-ported FID weights)
    selects the FID Inception's pooling."""
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    ref = inception_v3(weights=None, aux_logits=True, init_weights=False).eval()
    path = str(tmp_path / "inception.pth")
    torch.save(ref.state_dict(), path)
    net = load_fid_features(path)
    assert isinstance(net, InceptionPool3)
    x = _image(6, (1, 3, 24, 20)).float()
    ref.fc = nn.Identity()
    resized = nn.functional.interpolate(x / 255, size=(299, 299), mode="bilinear")
    with torch.no_grad():
        feats = net(x)
        expected = ref(resized * 2 - 1)
    assert feats.shape == (1, 2048)
    torch.testing.assert_close(feats, expected, rtol=1e-5, atol=1e-6)

    fid_sd = {k: v for k, v in ref.state_dict().items() if not k.startswith("AuxLogits.")}
    fid_sd["fc.weight"], fid_sd["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)
    fid_net = translation.inception_from_state_dict(fid_sd)
    assert type(fid_net.net.Mixed_5b).__name__ == "FIDInceptionA"
    assert type(fid_net.net.Mixed_7c).__name__ == "FIDInceptionE"


def test_fid_inception_equals_pytorch_fid(monkeypatch):
    """Optional: 1008-class weights give pytorch-fid's pool3 features exactly (its FID Inception
    built with the same random weights)."""
    pfi = pytest.importorskip("pytorch_fid.inception")
    torch.manual_seed(0)
    sd = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None).state_dict()
    monkeypatch.setattr(pfi, "load_state_dict_from_url", lambda *args, **kwargs: sd)
    theirs = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    x = _image(7, (1, 3, 40, 48)).float()
    with torch.no_grad():
        ours = translation.inception_from_state_dict(sd)(x)
        expected = theirs(x / 255)[0].flatten(1)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------- evaluator


def _cfg(**opts):
    cfg = get_cfg()
    add_translation_eval_config(cfg)
    add_translation_eval_config(cfg)  # idempotent
    cfg.MODEL.DEVICE = "cpu"
    for k, v in opts.items():
        cfg.TEST.TRANSLATION[k] = v
    return cfg


def _register(name, dicts):
    if name in DatasetCatalog:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, lambda: dicts)
    MetadataCatalog.get(name).set(evaluator_type="translation")
    return name


def _samples(n, b2a=False, target=True, seed=0, shape=(3, 24, 24)):
    """(inputs, outputs): output = target + per-image noise."""
    g = torch.Generator().manual_seed(seed)
    inputs, outputs = [], []
    for i in range(n):
        inp = {"image_id": i, "file_name": f"a{i}.png", "image": _image(100 + i, shape).float()}
        real = _image(200 + i, shape).float()
        fake = (real + torch.randn(shape, generator=g) * 20).clamp(0, 255)
        if target:
            inp["target"] = real
        out = {"image": fake}
        if b2a:
            inp["image_B"] = _image(300 + i, shape).float()
            inp["file_name_B"] = f"b{i}.png"
            inp["target_B"] = _image(400 + i, shape).float()
            out["image_B2A"] = (inp["target_B"] + 5).clamp(0, 255)
        inputs.append(inp)
        outputs.append(out)
    return inputs, outputs


@pytest.fixture
def logs(caplog, monkeypatch):
    monkeypatch.setattr(translation, "_WARNED", set())
    logger = logging.getLogger(translation.__name__)
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO)
    yield caplog
    logger.removeHandler(caplog.handler)


def _run(evaluator, inputs, outputs, batch=2):
    evaluator.reset()
    for i in range(0, len(inputs), batch):
        evaluator.process(inputs[i : i + batch], outputs[i : i + batch])
    return evaluator.evaluate()["translation"]


def test_build_evaluator_end_to_end(logs):
    inputs, outputs = _samples(6)
    name = _register("vp_test_translation", [{"image_id": i} for i in range(6)])
    evaluator = build_evaluator(_cfg(), name)
    assert isinstance(evaluator, TranslationEvaluator)
    res = _run(evaluator, inputs, outputs)
    assert list(res) == ["L1", "PSNR", "SSIM", "sharpness", "diversity", "FID_seeded",
                         "KID_seeded_mean", "KID_seeded_std"]  # fmt: skip
    fakes = torch.stack([o["image"] for o in outputs]).double().floor()  # saved-PNG values
    expected = paired_metrics(fakes, torch.stack([i["target"] for i in inputs]))
    for k in ("L1", "PSNR", "SSIM"):
        assert res[k] == pytest.approx(expected[k].mean(), rel=1e-12)
    net = SeededFeatures(0)
    with torch.no_grad():
        real = net(torch.stack([i["target"] for i in inputs])).numpy()
        fake = net(fakes.float()).numpy()
    assert res["FID_seeded"] == pytest.approx(_closed_form_fid(real, fake), rel=1e-4)
    assert res["KID_seeded_mean"] == pytest.approx(
        kernel_inception_distance(real, fake, subset_size=6)[0], rel=1e-5
    )
    # the warning names the key, once per process however often the evaluator is built
    build_evaluator(_cfg(), name)
    warned = {id(r) for r in logs.records if FEATURES_KEY in r.getMessage()}
    assert len(warned) == 1
    assert "Translation evaluation of 'vp_test_translation'" in logs.text


def test_fid_with_a_given_feature_network_is_the_closed_form(tmp_path, logs):
    """Features = mean colours of Gaussian images: FID equals the closed form of those
    features; the keys of a configured network carry no "_seeded"."""
    path = str(tmp_path / "mean_colour.pt")
    torch.jit.script(MeanColour()).save(path)
    inputs, outputs = _samples(12, seed=3)
    evaluator = TranslationEvaluator(_cfg(FID_FEATURES=path, KID_SUBSET=5), "x")
    res = _run(evaluator, inputs, outputs, batch=5)
    assert "FID" in res and "KID_mean" in res and "FID_seeded" not in res
    real = torch.stack([i["target"] for i in inputs]).double().mean(dim=(2, 3)).numpy()
    fake = torch.stack([o["image"] for o in outputs]).double().floor().mean(dim=(2, 3)).numpy()
    assert res["FID"] == pytest.approx(_closed_form_fid(real, fake), rel=1e-3)
    assert res["KID_mean"] == pytest.approx(
        kernel_inception_distance(real, fake, subset_size=5)[0], rel=1e-5
    )
    assert FEATURES_KEY not in logs.text


def test_quantisation_flag():
    target = torch.full((3, 16, 16), 100.0)
    outputs = [{"image": target + 0.7}]
    inputs = [{"image_id": 0, "target": target}]
    saved = _run(TranslationEvaluator("x", quantize=True), inputs, outputs)
    assert saved["L1"] == 0 and saved["PSNR"] == math.inf and saved["SSIM"] == 1
    exact = _run(TranslationEvaluator("x", quantize=False), inputs, outputs)
    d = float(outputs[0]["image"][0, 0, 0]) - 100  # 0.7 in float32
    assert exact["L1"] == pytest.approx(d / 255, rel=1e-12)
    assert exact["PSNR"] == pytest.approx(10 * math.log10(255**2 / d**2), rel=1e-6)
    assert "FID" not in exact  # no feature network


def test_b2a_keys(logs):
    inputs, outputs = _samples(4, b2a=True)
    res = _run(TranslationEvaluator("x", SeededFeatures(0), feature_tag="_seeded"), inputs, outputs)
    keys = ["L1", "PSNR", "SSIM", "sharpness", "diversity", "FID_seeded", "KID_seeded_mean",
            "KID_seeded_std"]  # fmt: skip
    assert list(res) == keys + [k + "_B2A" for k in keys]
    # image_B2A = target_B + 5 (clamped at 255)
    b2a = paired_metrics(torch.stack([o["image_B2A"] for o in outputs]),
                         torch.stack([i["target_B"] for i in inputs]))  # fmt: skip
    assert res["L1_B2A"] == pytest.approx(b2a["L1"].mean())
    assert res["PSNR_B2A"] == pytest.approx(b2a["PSNR"].mean())
    assert "B2A" in logs.text  # the table's second row


def test_without_targets_only_fid_kid_against_the_unpaired_images(logs):
    inputs, outputs = _samples(5, b2a=True, target=False)
    for inp in inputs:
        del inp["target_B"]
    inputs[4]["file_name_B"] = inputs[3]["file_name_B"]  # the same B image twice: counted once
    res = _run(TranslationEvaluator("vp_no_targets", MeanColour()), inputs, outputs)
    keys = ["sharpness", "diversity", "FID", "KID_mean", "KID_std"]
    assert list(res) == keys + [k + "_B2A" for k in keys]
    real_b = torch.stack([i["image_B"] for i in inputs[:4]]).double().mean(dim=(2, 3)).numpy()
    fake_b = torch.stack([o["image"] for o in outputs]).double().floor().mean(dim=(2, 3)).numpy()
    assert res["FID"] == pytest.approx(_closed_form_fid(real_b, fake_b), rel=1e-3)
    # sharpness and diversity against the same unpaired real images
    real_grad = np.mean([gradient_magnitude(i["image_B"]) for i in inputs[:4]])
    fake_grad = np.mean([gradient_magnitude(o["image"].floor()) for o in outputs])
    assert res["sharpness"] == pytest.approx(fake_grad / real_grad, rel=1e-12)
    expected = diversity([o["image"].floor() for o in outputs], [i["image_B"] for i in inputs[:4]])
    assert res["diversity"] == pytest.approx(expected, rel=1e-6)
    assert "dataset 'vp_no_targets' has no 'target' images" in logs.text
    assert "dataset 'vp_no_targets' has no 'target_B' images" in logs.text


def test_too_few_images_give_nan(logs):
    inputs, outputs = _samples(1)
    res = _run(TranslationEvaluator("x", MeanColour()), inputs, outputs)
    assert math.isnan(res["FID"]) and math.isnan(res["KID_mean"])
    assert res["L1"] > 0
    assert "at least 2" in logs.text


def test_distributed_path_in_one_process():
    inputs, outputs = _samples(4)
    one = _run(TranslationEvaluator("x", MeanColour(), distributed=False), inputs, outputs)
    dist = _run(TranslationEvaluator("x", MeanColour(), distributed=True), inputs, outputs)
    assert one == dist


def test_gathering_from_two_ranks(monkeypatch):
    """Two ranks simulated in one process: rank 1 sends its per-image metrics and features,
    rank 0 evaluates their union, which equals the single-process result."""
    from detectron2.utils import comm

    inputs, outputs = _samples(7, b2a=True)
    single = _run(TranslationEvaluator("x", MeanColour(), distributed=False), inputs, outputs)
    ranks = [TranslationEvaluator("x", MeanColour()) for _ in range(2)]
    for rank, evaluator in enumerate(ranks):
        evaluator.reset()
        for i in range(rank, 7, 2):
            evaluator.process(inputs[i : i + 1], outputs[i : i + 1])
    sent = []
    monkeypatch.setattr(comm, "is_main_process", lambda: False)
    monkeypatch.setattr(comm, "gather", lambda data, dst=0: sent.append(data) or [])
    assert ranks[1].evaluate() == {}
    monkeypatch.setattr(comm, "is_main_process", lambda: True)
    monkeypatch.setattr(comm, "gather", lambda data, dst=0: [data, sent.pop(0)])
    gathered = ranks[0].evaluate()["translation"]
    assert list(gathered) == list(single)
    for k in single:
        assert gathered[k] == pytest.approx(single[k], rel=1e-9), k


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, out_file):
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                                         rank=rank, world_size=world)  # fmt: skip
    inputs, outputs = _samples(7)
    evaluator = TranslationEvaluator("x", MeanColour())
    evaluator.reset()
    for i in range(rank, 7, world):  # an InferenceSampler-like split
        evaluator.process(inputs[i : i + 1], outputs[i : i + 1])
    results = evaluator.evaluate()
    if rank == 0:
        torch.save(results, out_file)
    else:
        assert results == {}
    torch.distributed.destroy_process_group()


@pytest.mark.slow  # ~20 s: each spawned process imports vision_plugins
def test_two_processes_gather_metrics_and_features(tmp_path):
    inputs, outputs = _samples(7)
    single = _run(TranslationEvaluator("x", MeanColour(), distributed=False), inputs, outputs)
    out_file = str(tmp_path / "results.pt")
    torch.multiprocessing.spawn(_worker, args=(2, _free_port(), out_file), nprocs=2)
    gathered = torch.load(out_file, weights_only=False)["translation"]
    assert list(gathered) == list(single)
    for k in single:
        assert gathered[k] == pytest.approx(single[k], rel=1e-9), k


def test_config_defaults():
    opts = _cfg().TEST.TRANSLATION
    assert (opts.FID_FEATURES, opts.FID_SEED, opts.KID_SUBSET, opts.QUANTIZE) == ("", 0, 50, True)
    assert opts.DIVERSITY_IMAGES == 100
