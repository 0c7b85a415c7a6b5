"""CI parity with dbolya/yolact @902073d on the shared fixtures (parity/README.md, yolact_*).

Official-layout checkpoint -> ``tools/convert_weights.py --arch yolact[_plus]`` -> model built from
the shipped config -> ``DetectionCheckpointer`` load -> the README's input dict -> the official
detections, matched by class and nearest box: classes equal, scores (and YOLACT++ mask scores)
within 1e-4, floor(box) within 1 px of the official ``.long()`` boxes, >= 99.9 % mask pixels.
"""

import numpy as np
import pytest
import torch

from tests.parity import converted_model, load_fixture, requires_fixtures

pytestmark = requires_fixtures
FIXTURES = {
    "yolact_R_50": ("yolact", "yolact_R_50_FPN_550_coco.yaml"),
    "yolact_R_101": ("yolact", "yolact_R_101_FPN_550_coco.yaml"),
    "yolact_plus_R_50": ("yolact_plus", "yolact_plus_R_50_FPN_550_coco.yaml"),
}


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def _pair(ours_classes, ours_boxes, classes, boxes):
    """Index into ours for each official detection: same class, nearest box (L1), one-to-one."""
    used, order = set(), []
    for c, b in zip(classes, boxes):
        cand = [i for i in range(len(ours_classes)) if ours_classes[i] == c and i not in used]
        assert cand, f"no detection of class {c} left to pair with official box {b}"
        best = min(cand, key=lambda i: np.abs(ours_boxes[i] - b).sum())
        used.add(best)
        order.append(best)
    return np.asarray(order)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_yolact_parity(tmp_path, two_threads, name):
    arch, config = FIXTURES[name]
    manifest, state_dict, image, expected = load_fixture(name)
    cfg, model, incompatible = converted_model(tmp_path, arch, state_dict, f"YOLACT/{config}")
    assert incompatible is not None

    h, w = manifest["output_size"]["height"], manifest["output_size"]["width"]
    assert image.shape == (550, 550, 3)  # already at the network size: the resize is the identity
    chw = image[:, :, ::-1] if cfg.INPUT.FORMAT == "RGB" else image
    inp = {"image": torch.from_numpy(np.ascontiguousarray(chw.transpose(2, 0, 1))), "height": h,
           "width": w}  # fmt: skip
    with torch.no_grad():
        inst = model([inp])[0]["instances"]

    classes, scores = expected["classes"], expected["scores"]
    assert len(inst) == len(classes) == 100
    ours_boxes = inst.pred_boxes.tensor.numpy()
    order = _pair(inst.pred_classes.numpy(), np.floor(ours_boxes), classes, expected["boxes"])
    np.testing.assert_array_equal(inst.pred_classes.numpy()[order], classes)
    np.testing.assert_allclose(inst.scores.numpy()[order], scores, rtol=0, atol=1e-4)
    assert np.abs(np.floor(ours_boxes[order]) - expected["boxes"]).max() <= 1
    if "mask_scores" in expected:
        np.testing.assert_allclose(
            inst.mask_scores.numpy()[order], expected["mask_scores"], rtol=0, atol=1e-4
        )
    shape = tuple(expected["mask_shape"])
    masks = np.unpackbits(expected["masks"])[: np.prod(shape)].reshape(shape).astype(bool)
    agreement = (inst.pred_masks.numpy()[order] == masks).mean()
    assert agreement >= 0.999, f"mask pixel agreement {agreement:.5f}"
