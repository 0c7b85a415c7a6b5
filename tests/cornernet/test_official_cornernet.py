"""Optional: CornerNet and CenterNet-Triplet against the official code itself
(``VP_OFFICIAL_CORNERNET`` = a princeton-vl/CornerNet checkout, ``VP_OFFICIAL_CENTERNET_TRIPLET``
= a Duankaiwen/CenterNet checkout; each test is skipped when its variable is unset). The
compiled corner pools and the Cython soft-NMS are replaced by pure-Python stand-ins
(``tests/official/cornernet.py``), nothing is built.

- The whole official test procedure (``test/coco.py::kp_detection``: flip, rescale, centre
  check, soft-NMS with its stale rows, per-image cut) gives the detections our model gives
  (``KEEP_STALE_ROWS`` on), with the fixture weights.
- Training: the official ``kp._train`` + ``AELoss`` on the same images and targets give our
  losses (focal, pull, push, offsets; every stack), in train mode.
"""

import contextlib
import os

import numpy as np
import pytest
import torch

from tests.official import cornernet, opened
from tests.parity import converted_model, load_fixture, requires_fixtures
from vision_plugins.cornernet.targets import batch_targets, corner_targets
from vision_plugins.engine import Predictor

CASES = {
    "cornernet": ("VP_OFFICIAL_CORNERNET", "cornernet_hg104", "CornerNet/cornernet_hg104_coco.yaml",
                  "models.CornerNet"),
    "centernet_triplet": ("VP_OFFICIAL_CENTERNET_TRIPLET", "centernet_triplet_hg104",
                          "CornerNet/centernet_triplet_hg104_coco.yaml", "models.CenterNet-104"),
}  # fmt: skip


def _case(arch):
    env, fixture, config, module = CASES[arch]
    path = os.environ.get(env)
    if not path:
        pytest.skip(f"set {env} to an official checkout")
    return path, fixture, config, module


pytestmark = requires_fixtures


@pytest.fixture
def official_runner():
    """``official_runner(path, cfg, model, image) -> run``: the benchmark runner, open until the
    test ends."""
    with opened(cornernet.runner) as open_runner:
        yield open_runner


@pytest.fixture
def load_official(arch):
    """``load_official()``: the official model module of ``arch`` (``models.CornerNet`` /
    ``models.CenterNet-104``), imported when called and importable until the test ends."""
    path, _, _, module = _case(arch)
    with contextlib.ExitStack() as stack:
        yield lambda: stack.enter_context(
            cornernet.official_cornernet(path, module, test_procedure=False)
        ).model


@pytest.mark.parametrize("arch", sorted(CASES))
def test_official_test_procedure_matches(tmp_path, arch, official_runner):
    path, fixture, config, _ = _case(arch)
    _, sd, image, _ = load_fixture(fixture)
    cfg, model, _ = converted_model(tmp_path, arch, sd, config)
    cfg.defrost()
    cfg.MODEL.CORNERNET.SOFT_NMS.KEEP_STALE_ROWS = True
    model.soft_nms["keep_stale_rows"] = True
    official = official_runner(path, cfg, model, image)()
    rows = np.concatenate([np.c_[b[:, :5], np.full(len(b), j - 1)] for j, b in official.items()])
    predictor = Predictor(cfg)
    predictor.model = model
    ours = predictor(image)["instances"]
    assert len(ours) == len(rows) > 0
    mine = np.c_[ours.pred_boxes.tensor.numpy(), ours.scores.numpy(), ours.pred_classes.numpy()]
    # one-to-one by class and nearest box (stale rows are exact duplicates: any twin will do)
    used = np.zeros(len(mine), bool)
    for row in rows[np.argsort(-rows[:, 4])]:
        cand = np.flatnonzero((mine[:, 5] == row[5]) & ~used)
        assert len(cand), row
        d = np.abs(mine[cand, :5] - row[:5]).max(1)
        k = cand[d.argmin()]
        used[k] = True
        np.testing.assert_allclose(mine[k, :4], row[:4], rtol=0, atol=5e-3)
        assert abs(mine[k, 4] - row[4]) <= 3e-4


@pytest.mark.parametrize("arch", sorted(CASES))
def test_official_training_losses_match(tmp_path, arch, load_official):
    _, fixture, config, _ = _case(arch)
    _, sd, _, _ = load_fixture(fixture)
    cfg, model, _ = converted_model(tmp_path, arch, sd, config)
    official = load_official()
    import types

    net = official.model(types.SimpleNamespace(configs={
        "top_k": 100, "ae_threshold": 0.5, "nms_kernel": 3, "input_size": [511],
        "output_sizes": [[128, 128]]}))  # fmt: skip
    net.load_state_dict({k[len("module.") :]: v for k, v in sd.items()})
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (2, 3, 128, 128)).astype(np.float32))
    boxes = [np.array([[10.3, 12.7, 70.2, 90.5], [50.0, 20.1, 120.9, 60.4], [5, 80, 40, 126]]),
             np.array([[30.5, 30.5, 100.2, 110.8], [0, 0, 20.6, 30.2]])]  # fmt: skip
    classes = [np.array([3, 17, 3]), np.array([56, 0])]
    batched = []
    from detectron2.structures import Boxes, Instances

    for img, b, c in zip(images, boxes, classes):
        inst = Instances((128, 128))
        inst.gt_boxes, inst.gt_classes = Boxes(torch.tensor(b).float()), torch.tensor(c)
        batched.append({"image": img, "instances": inst})
    model.train()
    torch.manual_seed(0)
    ours = model(batched)
    # the same targets through the official code (uint8 mask, as its sampler builds)
    t = batch_targets([corner_targets(b, c, 80, (128, 128), (32, 32), **model.target_args)
                       for b, c in zip(boxes, classes)], "cpu")  # fmt: skip
    x = (images - model.pixel_mean) / model.pixel_std
    center = arch == "centernet_triplet"
    xs = [x, t["tl_ind"], t["br_ind"]] + ([t["ct_ind"]] if center else [])
    mask = t["mask"].to(torch.uint8)
    ys = [t["tl_heat"], t["br_heat"]] + ([t["ct_heat"]] if center else [])
    ys += [mask, t["tl_off"], t["br_off"]] + ([t["ct_off"]] if center else [])
    net.train()
    result = official.loss(net(*xs), ys)
    # CornerNet's AELoss returns the total, Duan's (total, focal, pull, push, offsets)
    total = sum(v.item() for v in ours.values())
    assert total == pytest.approx(result[0].item(), rel=1e-4)
    if center:
        for name, value in zip(("loss_focal", "loss_pull", "loss_push", "loss_off"), result[1:]):
            assert ours[name].item() == pytest.approx(value.item(), rel=1e-4, abs=1e-6), name
