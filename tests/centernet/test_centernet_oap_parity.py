"""CI parity with xingyizhou/CenterNet @4c50fd3 on the shared fixtures (README_centernet_oap.md):
preprocessing, raw heads and the 100 decoded detections (matched by class and centre)."""

import numpy as np
import pytest
import torch

from tests.parity import converted_model, load_fixture, requires_fixtures

pytestmark = requires_fixtures
FIXTURES = {
    "centernet_oap_res18": ("centernet_oap_res18", "centernet_oap_res18_coco.yaml", 1e-4),
    "centernet_oap_resdcn18": ("centernet_oap_resdcn18", "centernet_oap_resdcn18_coco.yaml", 5e-4),
    "centernet_oap_hg": ("centernet_oap_hg", "centernet_oap_hg_coco.yaml", 5e-4),
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_centernet_oap_parity(tmp_path, name):
    arch, config, tol = FIXTURES[name]
    manifest, state_dict, image, expected = load_fixture(name)
    checkpoint = {"epoch": 0, "state_dict": state_dict}
    cfg, model, _ = converted_model(tmp_path, arch, checkpoint, f"CenterNet/{config}")
    h, w = image.shape[:2]
    inp = {"image": torch.as_tensor(image.transpose(2, 0, 1).copy()), "height": h, "width": w}
    with torch.no_grad():
        images = model.preprocess_image([inp])
        assert images.tensor.shape[-2:] == (h, w)  # nothing padded
        x = images.tensor
        np.testing.assert_allclose(x[0, :, :4, :4].numpy(), expected["input_patch"], atol=1e-5)
        np.testing.assert_allclose(x[0].mean((1, 2)).numpy(), expected["input_mean"], atol=1e-5)
        stacks = model.forward_heads(x, all_stacks=True)
        hm, wh, reg = stacks[-1]
        out = model.decode(hm.sigmoid(), wh, reg, (h, w))  # unclipped, as the official rows
        final = model([inp])[0]["instances"]
    np.testing.assert_allclose(hm.sigmoid().numpy(), expected["hm"], rtol=0, atol=tol)
    np.testing.assert_allclose(wh.numpy(), expected["wh"], rtol=0, atol=tol)
    np.testing.assert_allclose(reg.numpy(), expected["reg"], rtol=0, atol=tol)
    if "stack0_wh" in expected:  # the intermediate stack of the hourglass
        np.testing.assert_allclose(stacks[0][1].numpy(), expected["stack0_wh"], rtol=0, atol=1e-4)
        np.testing.assert_allclose(stacks[0][2].numpy(), expected["stack0_reg"], rtol=0, atol=1e-4)

    dets = expected["dets"][0]  # output-map coordinates
    assert len(out) == 100
    boxes = out.pred_boxes.tensor.numpy() / 4  # ours: input pixels (stride 4)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    classes = out.pred_classes.numpy()
    for row in dets:
        c = (row[:2] + row[2:4]) / 2
        match = np.where((classes == int(row[5])) & (np.abs(centres - c).max(1) <= 0.01))[0]
        assert len(match) == 1, f"detection {row} not found"
        k = match[0]
        assert abs(out.scores[k].item() - row[4]) <= 2e-4
        np.testing.assert_allclose(boxes[k], row[:4], rtol=0, atol=1e-3)
    # the final output: input-image pixels (4x), clipped by detector_postprocess
    ref = expected["dets_image"][:, :4].clip(0, [w, h, w, h])
    np.testing.assert_allclose(final.pred_boxes.tensor.numpy(), ref, rtol=0, atol=4e-3)
    np.testing.assert_allclose(final.scores.numpy(), expected["dets_image"][:, 4], atol=2e-4)
