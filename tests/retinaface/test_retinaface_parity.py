"""CI parity with biubug6/Pytorch_Retinaface @b984b4b on the shared fixtures
(parity/README_retinaface.md): anchors, raw head outputs, decoded boxes/landmarks and the final
detections (paired by nearest box, never by score rank), with the README's tolerances."""

import numpy as np
import pytest
import torch
from detectron2.structures import ImageList

from tests.parity import converted_model, load_fixture, requires_fixtures
from vision_plugins.retinaface.meta_arch import decode_landmarks

pytestmark = requires_fixtures
FIXTURES = {
    "retinaface_mnet": ("retinaface_mnet", "retinaface_mnet025_widerface.yaml"),
    "retinaface_r50": ("retinaface_r50", "retinaface_R_50_widerface.yaml"),
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_retinaface_parity(tmp_path, name):
    arch, config = FIXTURES[name]
    manifest, state_dict, image, expected = load_fixture(name)
    cfg, model, _ = converted_model(tmp_path, arch, state_dict, f"RetinaFace/{config}")
    assert cfg.MODEL.RETINAFACE.NMS_PLUS_ONE  # the faithful mode is the default
    h, w = manifest["image"]["height"], manifest["image"]["width"]
    inp = {"image": torch.as_tensor(image.transpose(2, 0, 1).copy()), "height": h, "width": w}

    with torch.no_grad():
        images = model.preprocess_image([inp])
        assert isinstance(images, ImageList) and images.tensor.shape[-2:] == (h, w)
        anchors, logits, deltas, landms = model.forward_raw(images)
        out = model([inp])[0]["instances"]
    priors = torch.from_numpy(expected["priors"])
    scale = torch.tensor([w, h, w, h], dtype=torch.float32)
    ref_anchors = torch.cat(
        [priors[:, :2] - priors[:, 2:] / 2, priors[:, :2] + priors[:, 2:] / 2], 1
    )
    torch.testing.assert_close(anchors, ref_anchors * scale, rtol=0, atol=1e-3)
    np.testing.assert_allclose(deltas[0].numpy(), expected["loc"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(landms[0].numpy(), expected["landms"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(
        torch.softmax(logits[0], -1).numpy(), expected["conf"], atol=5e-4, rtol=0
    )
    boxes = model.box2box_transform.apply_deltas(deltas[0], anchors)
    np.testing.assert_allclose(boxes.numpy(), expected["decoded_boxes"], rtol=0, atol=0.1)
    points = decode_landmarks(landms[0], anchors).reshape(-1, 10)
    np.testing.assert_allclose(points.numpy(), expected["decoded_landms"], rtol=0, atol=0.1)

    ref_boxes = expected["boxes"].copy()
    ref_boxes[:, [0, 2]] = ref_boxes[:, [0, 2]].clip(0, w)  # detector_postprocess clips
    ref_boxes[:, [1, 3]] = ref_boxes[:, [1, 3]].clip(0, h)
    got = out.pred_boxes.tensor.numpy()
    assert len(got) == len(ref_boxes)
    dist = np.abs(got[None] - ref_boxes[:, None]).max(-1)  # L-infinity, (expected, ours)
    pairs = dist.argmin(1)
    assert len(set(pairs.tolist())) == len(pairs), "pairing is not one-to-one"
    np.testing.assert_allclose(got[pairs], ref_boxes, rtol=0, atol=0.05)
    np.testing.assert_allclose(out.scores.numpy()[pairs], expected["scores"], rtol=0, atol=5e-4)
    kp = out.pred_keypoints[:, :, :2].reshape(-1, 10).numpy()
    np.testing.assert_allclose(kp[pairs], expected["landmarks"], rtol=0, atol=0.05)
