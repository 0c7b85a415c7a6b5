"""Optional: YolactEdge against the official code itself (haotian-liu/yolact_edge).

Set ``VP_OFFICIAL_YOLACT_EDGE=/path/to/yolact_edge`` (a checkout); skipped when unset. The
official code is imported with runtime shims only (``tests/official/yolact_edge.py``). A random
official ``yolact_edge_vid_resnet50_config`` network (BN statistics randomised, flow and SPA
weights included) is saved in its own layout, converted with ``--arch yolact_edge`` and compared
on a 192² batch of two frame pairs: the keyframe and non-keyframe raw outputs (box deltas, class
scores, coefficients, anchors, prototypes), the final detections of both, the feature-matching
loss (``extra_loss``) and the flow-training predictions and loss (``forward_flow`` +
``OpticalFlowLoss``).
"""

import os

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer

from tests.official.yolact_edge import official_yolact_edge
from tests.parity import REPO, randomize_official_yolact
from vision_plugins.checkpoint import convert_checkpoint
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.yolact.box_ops import decode_boxes

OFFICIAL = os.environ.get("VP_OFFICIAL_YOLACT_EDGE")
pytestmark = pytest.mark.skipif(
    not OFFICIAL, reason="set VP_OFFICIAL_YOLACT_EDGE to a yolact_edge checkout"
)
SIZE = 192
CONFIG = os.path.join(REPO, "configs", "YolactEdge", "yolact_edge_R_50_FPN_550_ytvis.yaml")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    with official_yolact_edge(OFFICIAL, "yolact_edge_vid_resnet50_config") as ns:
        torch.manual_seed(0)
        net = ns.Yolact()
        randomize_official_yolact(net, 40)
        tmp = tmp_path_factory.mktemp("yolact_edge")
        torch.save(net.state_dict(), tmp / "official.pth")
        convert_checkpoint("yolact_edge", str(tmp / "official.pth"), str(tmp / "ours.pth"))
        ours = Trainer.build_model(setup_cfg(CONFIG, []))
        DetectionCheckpointer(ours).load(str(tmp / "ours.pth"))
        net.create_partial_backbone()  # before eval(), as official eval.py (load_weights, eval)
        net.eval()
        ours.eval()
        yield ns, net, ours


def _frames():
    """Normalised (keyframe, next frame) batches: the next frame is the keyframe shifted by 3
    px with some noise."""
    g = torch.Generator().manual_seed(1)
    key = torch.rand(2, 3, SIZE, SIZE, generator=g) * 4 - 2
    cur = torch.roll(key, shifts=(3, -2), dims=(2, 3)) + 0.2 * torch.randn(key.shape, generator=g)
    return key, cur


def _official(net, key, cur):
    """Raw outputs of the keyframe and of the non-keyframe (Detect bypassed), and the official
    wrappers (phase-1 outputs, keyframe statistics)."""
    detect = net.detect
    net.detect = lambda pred_outs: pred_outs
    try:
        stats = {"conf_hist": []}
        extras = {"backbone": "full", "interrupt": False, "keep_statistics": True,
                  "moving_statistics": stats}  # fmt: skip
        k = net(key, extras=extras)
        stats["feats"], stats["lateral"] = k["feats"], k["lateral"]
        extras = {"backbone": "partial", "interrupt": False, "keep_statistics": False,
                  "moving_statistics": stats}  # fmt: skip
        n = net(cur, extras=extras)
    finally:
        net.detect = detect
    return k, n


def _ours(ours, key, cur):
    feats, state = ours.keyframe_features(key)
    k = ours.predict(feats)
    n = ours.predict(ours.nonkeyframe_features(cur, state))
    return k, n


@torch.no_grad()
def test_keyframe_and_nonkeyframe_raw_outputs(pair):
    _, net, ours = pair
    key, cur = _frames()
    ref_k, ref_n = _official(net, key, cur)
    for ref, got in ((ref_k, _ours(ours, key, cur)[0]), (ref_n, _ours(ours, key, cur)[1])):
        ref = ref["pred_outs"]
        loc, conf, coefs, priors, proto, _ = got
        for name, value in [("loc", loc), ("conf", torch.softmax(conf, -1)), ("mask", coefs),
                            ("priors", priors), ("proto", proto)]:  # fmt: skip
            torch.testing.assert_close(value, ref[name], rtol=0, atol=2e-4, msg=name)


@torch.no_grad()
def test_detections(pair):
    ns, net, ours = pair
    key, cur = _frames()
    net.detect.use_fast_nms = True
    stats = {"conf_hist": []}
    k = net(key, extras={"backbone": "full", "interrupt": False, "keep_statistics": True,
                         "moving_statistics": stats})  # fmt: skip
    stats["feats"], stats["lateral"] = k["feats"], k["lateral"]
    n = net(cur, extras={"backbone": "partial", "interrupt": False, "keep_statistics": False,
                         "moving_statistics": stats})  # fmt: skip
    for dets, got in zip((k["pred_outs"], n["pred_outs"]), _ours(ours, key, cur)):
        loc, conf, coefs, priors, proto, _ = got
        scores = torch.softmax(conf, -1)
        for i in range(2):
            classes, ref_scores, boxes, masks = ns.postprocess(dets, 300, 210, batch_idx=i)
            inst = ours.inference_single(decode_boxes(loc[i], priors), scores[i], coefs[i],
                                         proto[i], 210, 300)  # fmt: skip
            assert len(inst) == len(classes) > 0
            # detections whose scores differ by less than the rounding may swap places: match
            # each of ours to an unused official detection of the same class, score and box
            used = set()
            for j in range(len(inst)):
                close = (ref_scores - inst.scores[j]).abs() <= 1e-5
                close &= classes == inst.pred_classes[j]
                close &= (boxes - inst.pred_boxes.tensor[j].floor().long()).abs().amax(1) <= 1
                match = [m for m in close.nonzero().flatten().tolist() if m not in used]
                assert match, f"detection {j} of image {i} has no official counterpart"
                used.add(match[0])
                same = inst.pred_masks[j] == masks[match[0]].bool()
                assert same.float().mean() >= 0.999


@torch.no_grad()
def test_feature_matching_loss(pair):
    _, net, ours = pair
    key, cur = _frames()
    _, ref_n = _official(net, key, cur)
    full = net(cur, extras={"backbone": "full", "interrupt": True, "keep_statistics": False,
                            "moving_statistics": None})  # fmt: skip
    ref = net.extra_loss(ref_n, full)["W"]
    _, state = ours.keyframe_features(key)
    _, current = ours.keyframe_features(cur)
    sums = ours.transfer(current.lateral, state)
    got = ours.feature_matching_loss(sums[1:], current.sums[1:])
    assert got.item() == pytest.approx(ref.item(), rel=1e-5, abs=1e-6)
    assert got.item() > 0.01  # a real difference between transferred and computed features


@torch.no_grad()
def test_flow_predictions_and_loss(pair):
    ns, net, ours = pair
    key, cur = _frames()
    ref_flows = net.forward_flow((cur, key))
    preds = ours.flow_net(
        ours.flow_pre_convs(ours.current_lateral(cur)),
        ours.flow_pre_convs(ours.current_lateral(key)),
        finest=True,
    )
    for ref, (flow, _, _) in zip(ref_flows, preds):
        torch.testing.assert_close(flow, ref, rtol=0, atol=2e-4)
    g = torch.Generator().manual_seed(2)
    gt_px = torch.randn(2, 2, SIZE, SIZE, generator=g) * 3
    ref_loss = ns.OpticalFlowLoss()(ref_flows, gt_px * 16 / SIZE)["F"]
    mean = ours.pixel_mean
    std = ours.pixel_std
    inputs = [{"image": cur[i] * std + mean, "ref": {"image": key[i] * std + mean},
               "flow": gt_px[i]} for i in range(2)]  # fmt: skip
    got = ours.flow_losses(inputs)["loss_flow"]  # eval mode: BN statistics frozen, as official
    assert got.item() == pytest.approx(ref_loss.item(), rel=1e-4)
