"""VPSNet meta-architecture: losses per mode, gradients, frame-by-frame inference state."""

import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from vision_plugins.data import build_mapper
from vision_plugins.engine import setup_cfg

CONFIG = "configs/VPSNet/vpsnet_R_18_FPN_synth_video_fusetrack.yaml"
FAST = ["MODEL.WEIGHTS", "", "MODEL.RPN.POST_NMS_TOPK_TEST", "20", "TEST.DETECTIONS_PER_IMAGE", "5"]


def _cfg(*opts):
    return setup_cfg(CONFIG, FAST + list(opts))


@pytest.fixture(scope="module")
def train_batch():
    cfg = _cfg()
    mapper = build_mapper(cfg, True)
    samples = mapper.prepare_dataset(DatasetCatalog.get("vp_video_panoptic_train"))
    torch.manual_seed(0)
    return [mapper(samples[1]), mapper(samples[8])]


def _losses(cfg, batch, seed=0):
    torch.manual_seed(seed)
    model = build_model(cfg)
    torch.manual_seed(seed)
    with EventStorage():
        return model, model(batch)


@pytest.mark.parametrize("mode,track", [("fuse", False), ("track", True), ("fusetrack", True)])
def test_loss_keys_per_mode(train_batch, mode, track):
    _, losses = _losses(_cfg("MODEL.VPSNET.MODE", mode), train_batch)
    upsnet = {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg", "loss_mask"}
    upsnet |= {"loss_sem_seg", "loss_sem_roi", "loss_panoptic"}
    assert set(losses) == upsnet | ({"loss_track"} if track else set())
    assert all(torch.isfinite(v) for v in losses.values())


def test_track_loss_weight_and_gradients(train_batch):
    model, half = _losses(_cfg(), train_batch)
    _, full = _losses(_cfg("MODEL.VPSNET.TRACK.LOSS_WEIGHT", "1.0"), train_batch)
    assert half["loss_track"].item() > 0
    assert half["loss_track"].item() == pytest.approx(full["loss_track"].item() / 2, rel=1e-5)
    sum(half.values()).backward()
    for part in (model.fuse.refine, model.track_head, model.backbone):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())
    # the zero-initialised refine conv passes no gradient to TCEA at the first step, but it is
    # in the graph
    assert all(p.grad is not None for p in model.fuse.tcea.parameters())
    assert all(p.grad is None for p in model.flow_net.parameters())  # frozen (no parameters)


def test_modes_and_combine_are_validated():
    with pytest.raises(ValueError, match="MODE='fused'"):
        build_model(_cfg("MODEL.VPSNET.MODE", "fused"))
    with pytest.raises(ValueError, match="COMBINE must be 'panoptic_head'"):
        build_model(_cfg("MODEL.UPSNET.TEST.COMBINE", "heuristic"))
    with pytest.raises(KeyError, match="FLOW.NAME='FlowNet2'"):
        build_model(_cfg("MODEL.VPSNET.FLOW.NAME", "FlowNet2"))


@pytest.fixture(scope="module")
def video_frames():
    cfg = _cfg()
    mapper = build_mapper(cfg, False)
    frames = DatasetCatalog.get("vp_video_panoptic_val")
    return [mapper(d) for d in frames[:3] + frames[30:32]]  # video 1 frames 1-3, video 2 1-2


def test_inference_carries_flow_and_tracks_within_a_video(video_frames):
    cfg = _cfg("MODEL.UPSNET.TEST.SCORE_THRESH", "0.0", "MODEL.UPSNET.TEST.STUFF_AREA_LIMIT", "0")
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    seen = []
    fuse = model.fuse.forward
    model.fuse.forward = lambda f, r, flow: seen.append((f, r, flow)) or fuse(f, r, flow)
    with torch.no_grad():
        outs = [model([x])[0] for x in video_frames]
    # first frame of each video: its own features, zero flow; then the previous frame's
    assert seen[0][1] is seen[0][0] and torch.all(seen[0][2] == 0)
    assert seen[1][1] is seen[0][0]
    assert torch.equal(seen[1][2][0, :, :128, :192], video_frames[1]["flow"])
    assert seen[3][1] is seen[3][0] and torch.all(seen[3][2] == 0)
    ids = []
    for out in outs:
        track = out["instances"].pred_track_ids.tolist()  # -1: not in the panoptic result
        tracked = {t for t in track if t > 0}
        assert tracked and all(t == -1 or t >= 1 for t in track)
        things = [s for s in out["panoptic_seg"][1] if s["isthing"]]
        assert {s["track_id"] for s in things} <= tracked
        ids.append(tracked)
    assert min(ids[0]) == 1 and min(ids[3]) == 1  # each video's memory starts at id 1
    assert max(ids[2]) >= max(ids[0])  # within a video ids are kept or new (never reused)


def test_untracked_modes_give_every_instance_a_new_id(video_frames):
    cfg = _cfg("MODEL.VPSNET.MODE", "fuse", "MODEL.UPSNET.TEST.SCORE_THRESH", "0.0")
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    with torch.no_grad():
        outs = [model([x])[0] for x in video_frames[:2]]
    first, second = [{t for t in o["instances"].pred_track_ids.tolist() if t > 0} for o in outs]
    assert first and second and not first & second


def test_raw_images_are_rgb_for_the_flow_network(video_frames):
    model = build_model(_cfg())
    raw = model.raw_images(video_frames[:1])
    image = video_frames[0]["image"].float()  # BGR
    assert torch.equal(raw[0, :, :128, :192], image.flip(0))


def test_training_with_a_frame_without_instances(train_batch):
    # detectron2 gives proposals no gt_* fields for an image without GT: the track loss skips it
    empty = dict(train_batch[0])
    empty["instances"] = train_batch[0]["instances"][:0]
    empty["sem_seg"] = train_batch[0]["sem_seg"].clone().fill_(0)
    _, losses = _losses(_cfg(), [empty, train_batch[1]])
    assert torch.isfinite(losses["loss_track"]) and losses["loss_track"].item() > 0
    _, alone = _losses(_cfg(), [empty])
    assert alone["loss_track"].item() == 0
