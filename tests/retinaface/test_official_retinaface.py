"""Optional: RetinaFace against biubug6/Pytorch_Retinaface itself.

Set ``VP_OFFICIAL_RETINAFACE=/path/to/Pytorch_Retinaface`` (a checkout); skipped when unset. Our
randomly initialised model's weights go into the reference network (MobileNet-0.25 and
ResNet-50); compared: raw outputs at an odd size, the ``detect.py`` detections (via the benchmark
runner) and the reference ``MultiBoxLoss`` on targets with a face without landmarks and a face
whose best anchor IoU is below 0.2 (``.cuda()`` calls of the reference loss made no-ops).
"""

import os

import numpy as np
import pytest
import torch
from detectron2.structures import Boxes, ImageList, Instances, Keypoints
from torch import nn

from tests.official import opened, retinaface
from tests.official.retinaface import official_retinaface, official_retinaface_net
from tests.parity import REPO
from vision_plugins.engine import Trainer, setup_cfg

OFFICIAL = os.environ.get("VP_OFFICIAL_RETINAFACE")
pytestmark = pytest.mark.skipif(not OFFICIAL, reason="set VP_OFFICIAL_RETINAFACE to a checkout")

CONFIGS = ["retinaface_mnet025_widerface.yaml", "retinaface_R_50_widerface.yaml"]


@pytest.fixture(scope="module", params=CONFIGS)
def pair(request):
    cfg = setup_cfg(os.path.join(REPO, "configs", "RetinaFace", request.param), [])
    torch.manual_seed(0)
    model = Trainer.build_model(cfg).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        # head weights scaled to each level's feature size: logits and deltas of order 1 (a
        # random ResNet-50's features reach ~1e3 and would saturate every score)
        x = torch.from_numpy(_image().transpose(2, 0, 1).astype(np.float32))
        feats = model.backbone(model.preprocess_image([{"image": x}]).tensor)
        heads = (model.head.class_heads, model.head.bbox_heads, model.head.landmark_heads)
        for level, f in enumerate(feats.values()):
            for head in heads:
                conv = head[level]
                conv.weight.normal_(0, 1.0 / (f.std().item() * conv.weight.shape[1] ** 0.5))
                conv.bias.uniform_(-0.5, 0.5)
    with official_retinaface(OFFICIAL) as ns:
        net, ref_cfg = official_retinaface_net(ns, cfg, model)
        yield cfg, model, ns, net, ref_cfg


@pytest.fixture
def official_runner():
    """``official_runner(path, cfg, model, image) -> run``: the benchmark runner, open until the
    test ends."""
    with opened(retinaface.runner) as open_runner:
        yield open_runner


def _image(h=181, w=243):
    return np.random.RandomState(0).randint(0, 255, (h, w, 3), dtype=np.uint8)


def test_raw_outputs_and_detections(pair, official_runner):
    cfg, model, ns, net, ref_cfg = pair
    image = _image()
    img = np.float32(image)
    img -= (104, 117, 123)
    x = torch.from_numpy(img.transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        loc, conf, landms = net(x)
        _, logits, deltas, ours_landms = model.forward_raw(ImageList.from_tensors([x[0]]))
    torch.testing.assert_close(deltas, loc, rtol=0, atol=1e-4)
    torch.testing.assert_close(ours_landms, landms, rtol=0, atol=1e-4)
    torch.testing.assert_close(torch.softmax(logits, -1), conf, rtol=0, atol=1e-5)
    # a threshold between the 200th and 201st best score: ~200 candidates, the 750 cap not reached
    thresh = float(conf[0, :, 1].sort(descending=True)[0][200:202].mean())
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.RETINAFACE.SCORE_THRESH_TEST = thresh
    model.score_thresh = thresh
    dets, points = official_runner(OFFICIAL, cfg, model, image)()
    with torch.no_grad():  # before detector_postprocess, which clips (and merges) boxes
        anchors, logits, deltas, ours_landms = model.forward_raw(ImageList.from_tensors([x[0]]))
        scores = torch.softmax(logits, -1)[0, :, 1]
        out = model.inference_single(anchors, scores, deltas[0], ours_landms[0], (181, 243))
    assert len(out) == len(dets) > 10
    ref = np.concatenate([dets[:, :4], points], 1)
    got = torch.cat([out.pred_boxes.tensor, out.pred_keypoints[:, :, :2].reshape(-1, 10)], 1)
    got = got.numpy()
    pairs = np.abs(got[None] - ref[:, None]).max(-1).argmin(1)  # boxes + landmarks, L-infinity
    assert len(set(pairs.tolist())) == len(pairs)
    np.testing.assert_allclose(got[pairs], ref, atol=0.05, rtol=0)
    np.testing.assert_allclose(out.scores.numpy()[pairs], dets[:, 4], atol=1e-4, rtol=0)


def test_official_onnx_route_gives_the_official_detections(pair):
    """The benchmark's ``--official-onnx`` side (the reference network exported as its
    ``convert_to_onnx.py`` does, in ONNX Runtime) detects what the reference network does."""
    from vision_plugins.export import deploy_missing

    if deploy_missing():
        pytest.skip(deploy_missing())
    cfg, model = pair[:2]
    image = _image()
    with opened(retinaface.runner) as open_runner:
        dets, points = open_runner(OFFICIAL, cfg, model, image)()
    with opened(retinaface.runner) as open_runner:
        onnx_dets, onnx_points = open_runner(OFFICIAL, cfg, model, image, onnx=True)()
    # rows paired by value (near-equal scores may swap ranks); one decision at a threshold may
    # flip with ONNX Runtime's rounding (random R-50 weights: 511 vs 510 detections, two
    # official rows without a partner within 1e-3: 8 px from the nearest)
    ref, got = np.concatenate([dets, points], 1), np.concatenate([onnx_dets, onnx_points], 1)
    assert len(ref) > 10 and abs(len(got) - len(ref)) <= 1
    dist = np.abs(got[None] - ref[:, None]).max(-1)  # (official, onnx)
    nearest = dist.argmin(1)
    paired = dist[np.arange(len(ref)), nearest] <= 1e-3
    assert paired.sum() >= len(ref) - 2 and len(set(nearest[paired].tolist())) == paired.sum()


def test_multibox_loss(pair, monkeypatch):
    cfg, model, ns, net, ref_cfg = pair
    h, w = 160, 192
    image = torch.from_numpy(_image(h, w).transpose(2, 0, 1).astype(np.float32))
    x = (image - torch.tensor([104.0, 117, 123]).view(3, 1, 1))[None]
    faces = np.array([[20, 30, 60, 80], [100, 40, 118, 62], [150, 120, 156, 127]], np.float64)
    points = np.stack(
        [
            faces[:, :2] + (faces[:, 2:] - faces[:, :2]) * r
            for r in ([0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8])
        ],
        1,
    )
    has = np.array([True, False, True])  # face 1 without landmarks; face 2 is tiny (< 0.2 IoU)
    target = np.concatenate([faces / [w, h, w, h], (points / [w, h]).reshape(3, 10),
                             np.where(has, 1.0, -1.0)[:, None]], 1)  # fmt: skip
    target[~has, 4:14] = -1
    net.train()
    loc, conf, landms = net(x)
    priors = ns.PriorBox(ref_cfg, image_size=(h, w)).forward()
    monkeypatch.setattr(torch.Tensor, "cuda", lambda self, *a, **k: self)
    criterion = ns.MultiBoxLoss(2, 0.35, True, 0, True, 7, 0.35, False)
    loss_l, loss_c, loss_landm = criterion((loc, conf, landms), priors,
                                           [torch.tensor(target, dtype=torch.float32)])  # fmt: skip
    net.eval()
    gt = Instances((h, w))
    gt.gt_boxes = Boxes(torch.tensor(faces, dtype=torch.float32))
    gt.gt_classes = torch.zeros(3, dtype=torch.long)
    kp = torch.cat([torch.tensor(points, dtype=torch.float32), torch.full((3, 5, 1), 2.0)], 2)
    kp[1, :, 2] = 0
    gt.gt_keypoints = Keypoints(kp)
    anchors = torch.cat([priors[:, :2] - priors[:, 2:] / 2, priors[:, :2] + priors[:, 2:] / 2], 1)
    anchors = anchors * torch.tensor([w, h, w, h])
    ours = model.losses(anchors, conf, loc, landms, [gt])
    assert ours["loss_box_reg"].item() == pytest.approx(2.0 * loss_l.item(), rel=1e-4)
    assert ours["loss_cls"].item() == pytest.approx(loss_c.item(), rel=1e-4)
    assert ours["loss_landmark"].item() == pytest.approx(loss_landm.item(), rel=1e-4)
