"""YolactEdge: warping, scale / bias, keyframe schedule, video state, equality with YOLACT on
keyframes, partial backbone, training stages, converter, frame pairs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from detectron2.utils.events import EventStorage
from torch import nn

from vision_plugins.checkpoint import CheckpointFormatError, convert_checkpoint
from vision_plugins.engine import Trainer, setup_cfg
from vision_plugins.yolact_edge import YolactEdge, frame_pairs, warp_features
from vision_plugins.yolact_edge.convert import official_to_ours
from vision_plugins.yolact_edge.meta_arch import KeyframeState
from vision_plugins.yolact_edge.modules import pixel_flow_to_units

CONFIG = "configs/YolactEdge/yolact_edge_R_18_FPN_synth_video_image.yaml"
TINY = [
    "MODEL.YOLACT.MAX_SIZE", "64", "MODEL.YOLACT.FPN_CHANNELS", "16",
    "MODEL.YOLACT.NUM_PROTOTYPES", "4", "MODEL.YOLACT_EDGE.FLOW.REDUCE_CHANNELS", "[8]",
    "MODEL.YOLACT_EDGE.FLOW.ENCODE_CHANNELS", "8", "DATALOADER.NUM_WORKERS", "0",
    "SOLVER.IMS_PER_BATCH", "2",
]  # fmt: skip


def build(*opts):
    torch.manual_seed(0)
    model = Trainer.build_model(setup_cfg(CONFIG, TINY + list(opts)))
    with torch.no_grad():  # a confident class so that detections exist
        model.head.conf_layer.bias.view(-1, 4)[:, 1] += 4.0
    return model.eval()


@pytest.fixture(scope="module")
def model():
    return build("MODEL.YOLACT_EDGE.KEYFRAME_INTERVAL", "3")


def frames(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(3, 64, 64, generator=g) * 255
    return [torch.roll(base, shifts=(i, 2 * i), dims=(1, 2)) for i in range(n)]


def test_zero_flow_warp_is_identity_and_unit_flow_shifts_one_pixel():
    x = torch.randn(2, 5, 6, 7)
    torch.testing.assert_close(warp_features(x, torch.zeros(2, 2, 6, 7)), x, rtol=0, atol=1e-5)
    # one pixel to the right in x is 8 * 2 / (W - 1) flow units: out[..., j] = x[..., j + 1]
    flow = torch.zeros(2, 2, 6, 7)
    flow[:, 0] = 8 * 2 / 6
    out = warp_features(x, flow)
    torch.testing.assert_close(out[..., :-1], x[..., 1:], rtol=0, atol=1e-5)
    torch.testing.assert_close(out[..., -1], torch.zeros(2, 5, 6), rtol=0, atol=1e-5)
    # pixel flow -> units: 3 px in a 64-wide image = 3 * 16 / 64
    px = torch.tensor([3.0, -2.0]).view(1, 2, 1, 1).expand(1, 2, 32, 64)
    assert pixel_flow_to_units(px)[0, :, 0, 0].tolist() == pytest.approx([0.75, -1.0])
    with pytest.raises(ValueError, match="does not match"):
        warp_features(x, torch.zeros(2, 2, 5, 7))


class _FixedFlow(nn.Module):
    """Zero flow and given scale / bias at the P4 and P5 grids."""

    def __init__(self, outputs):
        super().__init__()
        self.outputs = outputs

    def forward(self, target, source, finest=False):
        return self.outputs


def test_scale_and_bias_applied_per_channel_and_position():
    m = build("MODEL.YOLACT_EDGE.USE_SPA", "False")
    assert m.spa is None
    g = torch.Generator().manual_seed(3)
    sums = [torch.randn(1, 16, s, s, generator=g) for s in (8, 4, 2)]
    lateral = torch.randn(1, 16, 8, 8, generator=g)
    outputs = []
    for s in (4, 2):
        scale = torch.arange(16.0).view(1, 16, 1, 1) * torch.rand(1, 1, s, s, generator=g)
        bias = -torch.arange(16.0).view(1, 16, 1, 1) + torch.rand(1, 1, s, s, generator=g)
        outputs.append((torch.zeros(1, 2, s, s), scale, bias))
    m.flow_net = _FixedFlow(outputs)
    with torch.no_grad():
        p3, p4, p5 = m.transfer(lateral, KeyframeState(sums, lateral, torch.zeros(1)))
    for got, key, (_, scale, bias) in zip((p4, p5), sums[1:], outputs):
        torch.testing.assert_close(got, key * scale + bias, rtol=0, atol=1e-5)
        assert not torch.allclose(got[:, 3], key[:, 3] * scale[:, 0] + bias[:, 0])
    up = F.interpolate(p4, size=(8, 8), mode="bilinear", align_corners=False)
    torch.testing.assert_close(p3, up + lateral, rtol=0, atol=1e-6)


def test_keyframe_schedule_and_reset(model):
    video = frames(7)
    with torch.no_grad():
        out = model([{"image": f, "video_id": 1} for f in video])
        assert [o["is_keyframe"] for o in out] == [True, False, False, True, False, False, True]
        # a new video starts with a keyframe, whatever the count of the previous one
        out = [model([{"image": f, "video_id": v}])[0] for f, v in zip(video[:3], (1, 2, 2))]
        assert [o["is_keyframe"] for o in out] == [False, True, False]
        model.reset()
        assert model([{"image": video[0], "video_id": 2}])[0]["is_keyframe"]
        # a shifted schedule: frame 0, then every 3rd from frame 2
        model.keyframe_offset = 2
        model.reset()
        out = model([{"image": f, "video_id": 1} for f in video])
        assert [o["is_keyframe"] for o in out] == [True, False, True, False, False, True, False]
        model.keyframe_offset = 0
        # single images (no video_id) are independent keyframes
        assert all(o["is_keyframe"] for o in model([{"image": f} for f in video[:2]]))
        with pytest.raises(ValueError, match="mixes"):
            model([{"image": video[0], "video_id": 1}, {"image": video[1]}])


def test_state_is_reset_between_videos(model):
    a, b = frames(3, seed=1), frames(3, seed=2)
    with torch.no_grad():
        model.reset()
        model([{"image": f, "video_id": "a"} for f in a])
        after_a = model([{"image": f, "video_id": "b"} for f in b])
        model.reset()
        fresh = model([{"image": f, "video_id": "b"} for f in b])
        model.reset()
        other_key = model([{"image": a[0], "video_id": "b"}, {"image": b[1], "video_id": "b"}])
    for x, y in zip(after_a, fresh):
        assert x["is_keyframe"] == y["is_keyframe"]
        for field in ("pred_boxes", "scores", "pred_masks"):
            assert torch.equal(getattr(x["instances"], field).tensor if field == "pred_boxes"
                               else getattr(x["instances"], field),
                               getattr(y["instances"], field).tensor if field == "pred_boxes"
                               else getattr(y["instances"], field))  # fmt: skip
    # a non-keyframe depends on its keyframe
    assert not torch.equal(other_key[1]["instances"].scores, fresh[1]["instances"].scores)


def test_keyframes_equal_yolact_bit_for_bit(model):
    from vision_plugins.yolact import YOLACT

    cfg = setup_cfg(CONFIG, TINY + ["MODEL.META_ARCHITECTURE", "YOLACT"])
    yolact = Trainer.build_model(cfg).eval()
    missing = yolact.load_state_dict(model.state_dict(), strict=False)
    assert not missing.missing_keys
    assert all(k.startswith(("flow_", "spa.")) for k in missing.unexpected_keys)
    assert isinstance(yolact, YOLACT) and not isinstance(yolact, YolactEdge)
    x = (torch.stack(frames(2)) - model.pixel_mean) / model.pixel_std
    with torch.no_grad():
        ref = yolact.forward_features(x)
        feats, state = model.keyframe_features(x)
        got = model.predict(feats)
        fpn, xm = model.backbone, model._memory_format(x)  # the model's memory format
        phases = fpn.phase2(fpn.phase1([fpn.bottom_up(xm)[f] for f in fpn.in_features])[0])
        direct = list(fpn(xm).values())
    for a, b in zip(ref[:5], got[:5]):
        assert torch.equal(a, b)
    for a, b, c in zip(ref[5], feats, phases):
        assert torch.equal(a, b) and torch.equal(a, c)
    for a, b in zip(direct, phases):
        assert torch.equal(a, b)
    # the cached lateral is C3's, the cached sums the phase-1 outputs
    c3 = fpn.bottom_up(xm)["res3"]
    assert torch.equal(state.lateral, fpn.lat_layers[-1](c3))
    with torch.no_grad():
        ours = model([{"image": f} for f in frames(2)])
        theirs = yolact([{"image": f} for f in frames(2)])
    for o, t in zip(ours, theirs):
        assert torch.equal(o["instances"].scores, t["instances"].scores)
        assert torch.equal(o["instances"].pred_masks, t["instances"].pred_masks)


def test_nonkeyframes_skip_res4_and_res5(model):
    calls = []
    resnet = model.backbone.bottom_up
    hooks = [stage.register_forward_hook(lambda *a, n=name: calls.append(n))
             for name, stage in zip(resnet.stage_names, resnet.stages)]  # fmt: skip
    try:
        model.reset()
        with torch.no_grad():
            model([{"image": f, "video_id": 9} for f in frames(2)])
    finally:
        for h in hooks:
            h.remove()
    assert calls == ["res2", "res3", "res4", "res5", "res2", "res3"]


def test_feature_matching_loss_values(model):
    t = [torch.randn(2, 16, 4, 4), torch.randn(2, 16, 2, 2)]
    assert model.feature_matching_loss(t, t).item() == pytest.approx(0.0, abs=1e-6)
    model.fm_loss_location = "L"
    try:
        assert model.feature_matching_loss([-x for x in t], t).item() == pytest.approx(2.0)
    finally:
        model.fm_loss_location = "L+P"


def _batch(with_flow):
    out = []
    for i, f in enumerate(frames(2, seed=5)):
        x = {"image": f, "ref": {"image": torch.roll(f, 2, dims=2)}, "height": 64, "width": 64}
        if with_flow:
            x["flow"] = torch.full((2, 64, 64), -2.0) * torch.tensor([1.0, 0.0]).view(2, 1, 1)
        out.append(x)
    return out


def test_flow_stage_trains_the_flow_network_only():
    m = build("MODEL.YOLACT_EDGE.TRAIN_STAGE", "flow").train()
    trained = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trained and all(n.startswith(("flow_pre_convs.", "flow_net.")) for n in trained)
    assert not m.backbone.bottom_up.training and m.flow_net.training
    losses = m(_batch(True))
    assert list(losses) == ["loss_flow"] and torch.isfinite(losses["loss_flow"])
    losses["loss_flow"].backward()
    assert m.flow_net.pred1.conv.weight.grad.abs().sum() > 0  # the finest scale is trained too
    with pytest.raises(KeyError, match="flow"):
        m([{k: v for k, v in x.items() if k != "flow"} for x in _batch(True)])


def test_joint_stage_losses_and_frozen_layers():
    from detectron2.structures import BitMasks, Boxes, Instances

    m = build("MODEL.YOLACT_EDGE.TRAIN_STAGE", "joint").train()
    frozen = {n for n, p in m.named_parameters() if not p.requires_grad}
    assert frozen == {n for n, _ in m.named_parameters()
                      if n.startswith(("backbone.bottom_up.", "backbone.lat_layers."))}  # fmt: skip
    batch = _batch(False)
    for x in batch:
        inst = Instances((64, 64))
        inst.gt_boxes = Boxes(torch.tensor([[8.0, 8.0, 40.0, 40.0]]))
        inst.gt_classes = torch.tensor([1])
        masks = torch.zeros(1, 64, 64, dtype=torch.bool)
        masks[:, 8:40, 8:40] = True
        inst.gt_masks = BitMasks(masks)
        x["instances"] = inst
    with EventStorage():
        losses = m(batch)
    assert {"loss_box", "loss_warp_box", "loss_warp_mask", "loss_fm"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert m.spa.refine_convs[0][0].weight.grad.abs().sum() > 0
    assert m.flow_pre_convs[0][0].weight.grad.abs().sum() > 0
    with pytest.raises(KeyError, match="ref"):
        m([{k: v for k, v in x.items() if k != "ref"} for x in batch])


def test_config_errors():
    with pytest.raises(ValueError, match="KEYFRAME_INTERVAL"):
        build("MODEL.YOLACT_EDGE.KEYFRAME_INTERVAL", "0")
    with pytest.raises(ValueError, match="KEYFRAME_OFFSET"):
        build("MODEL.YOLACT_EDGE.KEYFRAME_OFFSET", "3", "MODEL.YOLACT_EDGE.KEYFRAME_INTERVAL", "3")
    with pytest.raises(ValueError, match="TRAIN_STAGE"):
        build("MODEL.YOLACT_EDGE.TRAIN_STAGE", "video")


def _official_layout(state_dict):
    """Our non-ResNet weights under the official YolactEdge names (the converter's renaming,
    inverted)."""
    out = {}
    for key, value in state_dict.items():
        if key.startswith("backbone.bottom_up."):
            continue
        if key.startswith("backbone.lat_layers."):
            out["fpn_phase_1." + key[len("backbone.") :]] = value
        elif key.startswith("backbone."):
            out["fpn_phase_2." + key[len("backbone.") :]] = value
        elif key.startswith("flow_pre_convs."):
            out["flow_net_pre_convs.convs." + key[len("flow_pre_convs.") :]] = value
        elif key.startswith("head."):
            out["prediction_layers.0." + key[len("head.") :]] = value
        else:
            out[key] = value
    return out


def test_converter_round_trip_and_errors(tmp_path):
    """An official-layout R-50 YolactEdge state dict (random) converts to exactly our R-50
    model's keys, and back to the same values."""
    cfg = setup_cfg("configs/YolactEdge/yolact_edge_R_50_FPN_550_ytvis.yaml", [])
    torch.manual_seed(0)
    ours = YolactEdge(cfg).state_dict()
    official = _official_layout(ours)
    from vision_plugins.yolact.convert import official_to_ours as yolact_rename

    tv = {}  # the ResNet under the official names (torchvision layout, ``layers.i``)
    for key in _torchvision_resnet50_keys():
        (mapped,) = yolact_rename({key: torch.zeros(0)}).keys()
        tv[key] = ours[mapped]
    official.update(tv)
    official["partial_backbone.conv1.weight"] = tv["backbone.conv1.weight"]  # dropped
    torch.save(official, tmp_path / "official.pth")
    converted = convert_checkpoint("yolact_edge", str(tmp_path / "official.pth"),
                                   str(tmp_path / "ours.pth"))  # fmt: skip
    assert set(converted) == set(ours)
    for k, v in converted.items():
        assert torch.equal(v, ours[k]), k
    # a YOLACT checkpoint is refused, naming the key
    yolact_file = {("fpn." + k.split(".", 1)[1] if k.startswith("fpn_phase_") else k): v
                   for k, v in official.items()}  # fmt: skip
    with pytest.raises(CheckpointFormatError, match="fpn|flow_net"):
        official_to_ours(yolact_file)
    torch.save({k: v for k, v in official.items() if not k.startswith("flow_net.")},
               tmp_path / "noflow.pth")  # fmt: skip
    with pytest.raises(CheckpointFormatError, match="flow_net"):
        convert_checkpoint("yolact_edge", str(tmp_path / "noflow.pth"), str(tmp_path / "x.pth"))


def _torchvision_resnet50_keys():
    """Official (``backbone.layers.i``) ResNet-50 keys."""
    keys = ["backbone.conv1.weight"] + [f"backbone.bn1.{p}" for p in _BN]
    for s, n in enumerate((3, 4, 6, 3)):
        for b in range(n):
            pre = f"backbone.layers.{s}.{b}."
            for c in (1, 2, 3):
                keys.append(pre + f"conv{c}.weight")
                keys += [pre + f"bn{c}.{p}" for p in _BN]
            if b == 0:
                keys.append(pre + "downsample.0.weight")
                keys += [pre + f"downsample.1.{p}" for p in _BN]
    return keys


_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def test_frame_pairs():
    dicts = [{"file_name": f"{v}_{f}", "video_id": v, "frame_id": f, "is_annotated": f % 5 == 0}
             for v in (1, 2) for f in range(1, 11)]  # fmt: skip
    pairs = frame_pairs(dicts, [-5, -4, -3, -2], annotated_only=True, flow_only=False)
    assert [(p["video_id"], p["frame_id"]) for p in pairs] == [(1, 5), (1, 10), (2, 5), (2, 10)]
    assert [r["frame_id"] for r in pairs[0]["references"]] == [1, 2, 3]
    assert [r["frame_id"] for r in pairs[1]["references"]] == [5, 6, 7, 8]
    with pytest.raises(KeyError, match="flow"):
        frame_pairs(dicts, [-1], annotated_only=False, flow_only=True)
    with pytest.raises(ValueError, match="no frame pairs"):
        frame_pairs(dicts, [20], annotated_only=False, flow_only=False)


def test_predictor_streams_a_video_and_resets_on_a_new_one():
    from vision_plugins.engine import Predictor

    cfg = setup_cfg(CONFIG, TINY + ["MODEL.YOLACT_EDGE.KEYFRAME_INTERVAL", "2"])
    predictor = Predictor(cfg)
    g = torch.Generator().manual_seed(4)
    bgr = (torch.rand(5, 48, 72, 3, generator=g) * 255).byte().numpy()
    flags = [predictor(f, video_id="a")["is_keyframe"] for f in bgr[:3]]
    flags += [predictor(f, video_id="b")["is_keyframe"] for f in bgr[3:]]
    assert flags == [True, False, True, True, False]
    out = predictor(bgr[0])  # a single image: a keyframe at the image's own size
    assert out["is_keyframe"] and out["instances"].image_size == (48, 72)


def test_pan_moves_the_reference_and_the_flow_follows():
    from vision_plugins.yolact_edge.mapper import pan

    image = np.arange(4 * 5 * 3).reshape(4, 5, 3)
    out = pan(image, 2, -1)
    assert (out[0:3, 2:5] == image[1:4, 0:3]).all()
    assert (out[3] == 0).all() and (out[:, :2] == 0).all()
    assert (pan(image, 5, 0) == 0).all() and (pan(image, 0, 0) == image).all()
    # a target pixel p matched reference pixel p + f; after the pan it matches p + f + (dx, dy)
    p, f, shift = np.array([1, 2]), np.array([1, 0]), np.array([2, -1])
    q = p + f + shift  # (x, y)
    assert (out[q[1], q[0]] == image[(p + f)[1], (p + f)[0]]).all()


def test_flow_stage_mapper_pairs_flow_and_pan():
    from detectron2.data import DatasetCatalog
    from detectron2.data.detection_utils import read_image

    from vision_plugins.data import build_mapper
    from vision_plugins.data.video_panoptic import flow_file_name, read_flow_png
    from vision_plugins.yolact_edge.mapper import pan

    cfg = setup_cfg(
        "configs/YolactEdge/yolact_edge_R_18_FPN_synth_video_flow.yaml",
        ["INPUT.RANDOM_FLIP", "none", "INPUT.YOLACT_EDGE.FLOW_SHIFT", "6"],
    )
    mapper = build_mapper(cfg, True)
    pairs = mapper.prepare_dataset(DatasetCatalog.get("vp_video_instances_val"))
    sample = next(p for p in pairs if p["frame_id"] == 10)
    offsets = sorted(r["frame_id"] - 10 for r in sample["references"])
    assert offsets == [-5, -1]
    np.random.seed(3)
    out = mapper(sample)
    np.random.seed(3)
    ref = sample["references"][np.random.randint(2)]
    shift = np.random.randint(-6, 7, size=2)
    raw = read_flow_png(
        flow_file_name(sample["flow_root"], sample["video_id"], 10, ref["frame_id"])
    )
    size = cfg.MODEL.YOLACT.MAX_SIZE
    assert out["flow"].shape == (2, size, size) and out["ref"]["image"].shape == (3, size, size)
    # the static corner (zero flow before the pan) moves by exactly the pan
    assert raw[0, 0].tolist() == [0.0, 0.0]
    assert out["flow"][:, 0, 0].tolist() == pytest.approx(shift.tolist())
    # the reference is the resized frame, panned
    resized = mapper.mapper.augmentations.last.apply_image(read_image(ref["file_name"], "RGB"))
    assert np.array_equal(out["ref"]["image"].numpy().transpose(1, 2, 0), pan(resized, *shift))
