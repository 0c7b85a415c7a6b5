"""Optional: YOLACT / YOLACT++ against the official code itself (dbolya/yolact).

Set ``VP_OFFICIAL_YOLACT=/path/to/yolact`` (a checkout); skipped when unset. The official code
is imported with runtime shims only (``tests/official/yolact.py``: ``official_yolact``). A random
official network (BN statistics randomised) is saved in its own layout, converted, and compared
on a 256² batch of two: raw outputs (box deltas, class logits, coefficients, anchors,
prototypes, semantic logits), the final detections of ``Detect`` + ``postprocess``, and the
training losses of ``MultiBoxLoss`` on targets with crowds, neutrals and several objects.
"""

import os

import numpy as np
import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer

from tests.official.yolact import official_yolact, official_yolact_config
from tests.parity import REPO, randomize_official_yolact
from vision_plugins.checkpoint import convert_checkpoint
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.yolact.box_ops import decode_boxes
from vision_plugins.yolact.losses import YolactTargets, yolact_losses

OFFICIAL = os.environ.get("VP_OFFICIAL_YOLACT")
pytestmark = pytest.mark.skipif(not OFFICIAL, reason="set VP_OFFICIAL_YOLACT to a yolact checkout")

CASES = {
    "yolact": "yolact_R_50_FPN_550_coco.yaml",
    "yolact_plus": "yolact_plus_R_50_FPN_550_coco.yaml",
}


@pytest.fixture(scope="module", params=sorted(CASES))
def pair(request, tmp_path_factory):
    cfg = setup_cfg(os.path.join(REPO, "configs", "YOLACT", CASES[request.param]), [])
    with official_yolact(OFFICIAL, official_yolact_config(cfg)) as ns:
        torch.manual_seed(0)
        net = ns.Yolact()
        net.detect.use_fast_nms = True
        randomize_official_yolact(net, 80)
        tmp = tmp_path_factory.mktemp(request.param)
        torch.save(net.state_dict(), tmp / "official.pth")
        convert_checkpoint(request.param, str(tmp / "official.pth"), str(tmp / "ours.pth"))
        ours = Trainer.build_model(cfg)
        DetectionCheckpointer(ours).load(str(tmp / "ours.pth"))
        yield ns, net, ours


def _images():
    g = torch.Generator().manual_seed(1)
    return torch.rand(2, 3, 256, 256, generator=g) * 4 - 2  # normalised; >= 252 px: FastMaskIoUNet


def test_raw_outputs(pair):
    ns, net, ours = pair
    x = _images()
    net.train()
    net.freeze_bn()  # official raw outputs come from training mode with frozen BN
    ours.eval()
    with torch.no_grad():
        ref = net(x)
        loc, conf, coefs, priors, proto, feats = ours.forward_features(x)
        segm = ours.semantic_seg_conv(feats[0])
    for name, got in [("loc", loc), ("conf", conf), ("mask", coefs), ("priors", priors),
                      ("proto", proto), ("segm", segm)]:  # fmt: skip
        torch.testing.assert_close(got, ref[name], rtol=0, atol=2e-4, msg=name)


def test_detections(pair):
    ns, net, ours = pair
    x = _images()
    net.eval()
    ours.eval()
    with torch.no_grad():
        dets = net(x)
        loc, conf, coefs, priors, proto, _ = ours.forward_features(x)
        scores = torch.softmax(conf, -1)
        for i in range(2):
            classes, ref_scores, boxes, masks = ns.postprocess(dets, 300, 210, batch_idx=i)
            inst = ours.inference_single(decode_boxes(loc[i], priors), scores[i], coefs[i],
                                         proto[i], 210, 300)  # fmt: skip
            assert len(inst) == len(classes) > 0
            np.testing.assert_array_equal(inst.pred_classes.numpy(), classes.numpy())
            box_scores = ref_scores[0] if isinstance(ref_scores, list) else ref_scores
            torch.testing.assert_close(inst.scores, box_scores, rtol=0, atol=1e-5)
            if isinstance(ref_scores, list):
                torch.testing.assert_close(inst.mask_scores, ref_scores[1], rtol=0, atol=1e-5)
            assert (inst.pred_boxes.tensor.floor().long() - boxes).abs().max() <= 1
            assert (inst.pred_masks == masks.bool()).float().mean() >= 0.999


def test_losses(pair):
    ns, net, ours = pair
    x = _images()
    boxes = [torch.tensor([[0.1, 0.1, 0.5, 0.6], [0.4, 0.3, 0.9, 0.8], [0.0, 0.6, 0.3, 1.0]]),
             torch.tensor([[0.2, 0.2, 0.7, 0.7], [0.5, 0.0, 1.0, 0.4]])]  # fmt: skip
    labels = [torch.tensor([3, 10, 0]), torch.tensor([5, 1])]
    num_crowds = [1, 0]  # the last box of image 0 is a crowd
    masks = []
    for b in boxes:
        m = torch.zeros(len(b), 256, 256)
        for k, (x1, y1, x2, y2) in enumerate((b * 256).long().tolist()):
            m[k, y1:y2, x1 + (x2 - x1) // 4 : x2] = 1  # masks smaller than their boxes
        masks.append(m)
    targets = [torch.cat([b, lab[:, None].float()], 1) for b, lab in zip(boxes, labels)]
    net.train()
    net.freeze_bn()
    ours.eval()  # frozen BN on both sides
    criterion = ns.MultiBoxLoss(81, 0.5, 0.4, 3)
    ref = criterion(net, net(x), targets, [m.clone() for m in masks], num_crowds)
    loc, conf, coefs, priors, proto, feats = ours.forward_features(x)
    segm = ours.semantic_seg_conv(feats[0])
    ts = []
    for b, lab, m, nc in zip(boxes, labels, masks, num_crowds):
        keep = len(b) - nc
        ts.append(YolactTargets(b[:keep], lab[:keep], m[:keep], b[keep:]))
    got = yolact_losses(loc, conf, coefs, priors, proto, segm, ts, ours.loss_cfg, ours.maskiou_net)
    names = {"B": "loss_box", "C": "loss_cls", "M": "loss_mask", "S": "loss_semseg",
             "I": "loss_maskiou"}  # fmt: skip
    for k, v in ref.items():
        assert got[names[k]].item() == pytest.approx(v.item(), rel=1e-4, abs=1e-5), k
