"""``evaluator_type: style``: Gram and content distances computed by hand with the same VGG."""

import pytest
import torch
from torch.nn import functional as F

from vision_plugins.evaluation.style import StyleEvaluator
from vision_plugins.gan.perceptual import VGGFeatures, gram_matrix

LAYERS = {"relu1_2": 1.0, "relu2_2": 2.0}


def _evaluator(style):
    vgg = VGGFeatures("vgg16", tuple(LAYERS), input_range=255.0, seed=4)
    ev = StyleEvaluator(
        "test",
        vgg=vgg,
        layer_weights=LAYERS,
        content_layers=("relu2_2",),
        style=style,
        distributed=False,
    )
    ev.reset()
    return ev, vgg


def test_distances_by_hand():
    torch.manual_seed(0)
    style = torch.rand(1, 3, 24, 24) * 255
    content = torch.rand(3, 20, 20) * 255
    output = torch.rand(3, 20, 20) * 255
    ev, vgg = _evaluator(style)
    ev.process([{"image_id": 0, "image": content}], [{"image": output}])
    res = ev.evaluate()["style"]
    with torch.no_grad():
        fs, fc, fo = vgg(style), vgg(content[None]), vgg(output[None])
    gram = sum(w * F.mse_loss(gram_matrix(fo[k]), gram_matrix(fs[k])) for k, w in LAYERS.items())
    gram_in = sum(w * F.mse_loss(gram_matrix(fc[k]), gram_matrix(fs[k])) for k, w in LAYERS.items())
    content_d = 2.0 * F.mse_loss(fo["relu2_2"], fc["relu2_2"])
    assert res["gram_distance"] == pytest.approx(gram.item(), rel=1e-5)
    assert res["gram_distance_input"] == pytest.approx(gram_in.item(), rel=1e-5)
    assert res["gram_ratio"] == pytest.approx(gram.item() / gram_in.item(), rel=1e-5)
    assert res["content_distance"] == pytest.approx(content_d.item(), rel=1e-5)
    energy = 2.0 * fc["relu2_2"].pow(2).mean()
    assert res["content_relative"] == pytest.approx((content_d / energy).item(), rel=1e-5)


def test_identity_and_the_style_image_itself():
    torch.manual_seed(1)
    style = torch.rand(1, 3, 16, 16) * 255
    content = torch.rand(3, 16, 16) * 255
    ev, _ = _evaluator(style)
    # the identity map: ratio 1, no content change; an output larger than the input is cropped
    bigger = torch.cat([content, torch.zeros(3, 4, 16)], 1)
    ev.process([{"image_id": 0, "image": content}], [{"image": bigger}])
    res = ev.evaluate()["style"]
    assert res["gram_ratio"] == pytest.approx(1.0) and res["content_distance"] == 0
    ev.reset()
    ev.process([{"image_id": 1, "image": content}], [{"image": style[0]}])
    assert ev.evaluate()["style"]["gram_distance"] == pytest.approx(0, abs=1e-12)
    ev.reset()
    with pytest.raises(ValueError, match="smaller"):
        ev.process([{"image_id": 2, "image": content}], [{"image": content[:, :8]}])
