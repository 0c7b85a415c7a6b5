"""CornerNet / CenterNet-Triplet export (ONNX in ONNX Runtime, TorchScript) on the parity-fixture
weights (Hourglass-104), on the fixture input and on a real photo (its own size, 200 px wide:
dynamic canvas H / W, flip test): the graph (flip batch, network, corner / centre pooling, heads)
gives eager's raw maps within the graph's tolerance (cornernet/export.py), and the final
detections (after the shared ``rows`` and ``postprocess``: heatmap NMS, top-K, corner matching,
soft-NMS, centre-region check) equal eager's, paired one to one: count, classes, scores within
1e-4, boxes within 1e-2 px."""

import pytest
import torch

from tests.export.common import backends_match_eager, photo_bgr, requires_photos
from tests.mask_rcnn.test_export import assert_paired_instances
from tests.parity import converted_model, load_fixture, requires_fixtures
from vision_plugins.cornernet.export import export_cornernet

pytestmark = [requires_fixtures, requires_photos]
FIXTURES = {
    "cornernet_hg104": ("cornernet", "CornerNet/cornernet_hg104_coco.yaml"),
    "centernet_triplet_hg104": ("centernet_triplet", "CornerNet/centernet_triplet_hg104_coco.yaml"),
}


def _input(chw):
    return {"image": torch.as_tensor(chw, dtype=torch.float32)}


@pytest.mark.parametrize(
    "name",
    [
        # ~6 min here (HG-104 export by torch.export, load average 4-10 on 2 cores)
        pytest.param("cornernet_hg104", marks=pytest.mark.slow),
        pytest.param("centernet_triplet_hg104", marks=pytest.mark.slow),
    ],
)
def test_cornernet_family_export_matches_eager(tmp_path, name):
    arch, config = FIXTURES[name]
    manifest, state_dict, image, _ = load_fixture(name)
    if name == "cornernet_hg104":
        state_dict = {k: v for k, v in state_dict.items() if "num_batches_tracked" not in k}
    cfg, model, _ = converted_model(tmp_path, arch, state_dict, config)
    assert model.flip_test
    bgr = photo_bgr(200)
    photo = bgr if cfg.INPUT.FORMAT == "BGR" else bgr[:, :, ::-1]
    inputs = [[_input(image.transpose(2, 0, 1))], [_input(photo.transpose(2, 0, 1).copy())]]
    out = backends_match_eager(
        model, export_cornernet(model, cfg), inputs, tmp_path,
        assert_paired_instances, inductor=True,
    )  # fmt: skip
    assert set(out) == {"onnx", "torchscript", "inductor"}
    for fmt in out:  # the fixture input has detections (the photo, with these weights, may not)
        assert len(out[fmt][0][0]["instances"]) > 0
