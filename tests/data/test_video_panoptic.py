"""Video panoptic data: the synthetic vp_video_panoptic, the loader, flow files, reference
frames, the mapper and the inference sampler."""

import json

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import transforms as T

from vision_plugins.data import video_panoptic as vp
from vision_plugins.data.panoptic import read_panoptic_ids
from vision_plugins.engine import setup_cfg
from vision_plugins.vpsnet.mapper import VideoPanopticMapper

CONFIG = "configs/VPSNet/vpsnet_R_18_FPN_synth_video_fusetrack.yaml"


@pytest.fixture(scope="module")
def val():
    return DatasetCatalog.get("vp_video_panoptic_val")


def test_split_layout_and_metadata(val):
    meta = MetadataCatalog.get("vp_video_panoptic_val")
    assert meta.evaluator_type == "video_panoptic" and meta.annotation_stride == 5
    assert len(val) == 8 * 30
    assert [d["frame_id"] for d in val[:30]] == list(range(1, 31))
    annotated = [d for d in val if d["is_annotated"]]
    assert [d["frame_id"] for d in annotated[:6]] == [5, 10, 15, 20, 25, 30]
    assert all(d["image_id"] == d["video_id"] * 10000 + d["frame_id"] for d in val)
    with open(meta.panoptic_json) as f:  # COCOPanopticEvaluator's ground truth: annotated only
        assert len(json.load(f)["annotations"]) == len(annotated) == 48


def test_thing_ids_are_track_consistent_and_things_enter_and_leave(val):
    entering = leaving = 0
    for video in range(1, 9):
        frames = [d for d in val if d["video_id"] == video and d["is_annotated"]]
        seen = [
            {s["id"] for s in d["segments_info"] if s["isthing"] and not s["iscrowd"]}
            for d in frames
        ]
        for d in frames:
            for s in d["segments_info"]:
                if s["isthing"] and not s["iscrowd"]:  # id = category * 1000 + track
                    cat = MetadataCatalog.get("vp_video_panoptic_val").thing_classes
                    assert s["id"] // 1000 in (1, 3, 7) and cat[s["category_id"]]
        entering += any(seen[i] - seen[i - 1] for i in range(1, 6))
        leaving += any(seen[i - 1] - seen[i] for i in range(1, 6))
    assert entering >= 2 and leaving >= 2


def test_flow_files_map_things_onto_themselves(val):
    """Thing pixels of annotated frame 10 moved by the flow to frame 15 land on the same
    segment id wherever that object is not occluded there."""
    d10 = next(d for d in val if d["video_id"] == 1 and d["frame_id"] == 10)
    d15 = next(d for d in val if d["video_id"] == 1 and d["frame_id"] == 15)
    ids10, ids15 = read_panoptic_ids(d10["pan_seg_file_name"]), read_panoptic_ids(
        d15["pan_seg_file_name"]
    )
    flow = vp.read_flow_png(vp.flow_file_name(d10["flow_root"], 1, 10, 15))
    things = ids10 >= 1000
    ys, xs = np.nonzero(things)
    tx = np.rint(xs + flow[ys, xs, 0]).astype(int)
    ty = np.rint(ys + flow[ys, xs, 1]).astype(int)
    inside = (tx >= 0) & (tx < 192) & (ty >= 0) & (ty < 128)
    landed, source = ids15[ty[inside], tx[inside]], ids10[ys[inside], xs[inside]]
    visible = (landed < 1000) | (landed == source)  # not hidden behind another thing
    assert visible.sum() > 1000 and (landed == source)[visible].mean() > 0.95
    assert np.all(flow[~things] == 0)  # stuff, void and crowd are static


def test_kitti_flow_png_round_trip(tmp_path):
    flow = np.random.RandomState(0).randint(-20000, 20000, (5, 7, 2)) / 64.0
    vp.write_flow_png(str(tmp_path / "f.png"), flow)
    assert np.array_equal(vp.read_flow_png(str(tmp_path / "f.png")), flow.astype(np.float32))
    with pytest.raises(ValueError, match="KITTI PNG range"):
        vp.write_flow_png(str(tmp_path / "g.png"), np.full((2, 2, 2), 600.0))
    (tmp_path / "bad.png").write_bytes(b"no png")
    with pytest.raises(ValueError, match="bad.png"):
        vp.read_flow_png(str(tmp_path / "bad.png"))


def test_transform_flow_flip_resize_crop():
    flow = np.zeros((4, 6, 2), np.float32)
    flow[:, :, 0] = np.arange(6)  # u grows to the right
    flow[:, :, 1] = 1.0
    flipped = vp.transform_flow(flow, T.TransformList([T.HFlipTransform(6)]))
    assert np.array_equal(flipped[0, :, 0], -np.arange(6)[::-1]) and np.all(flipped[..., 1] == 1)
    resized = vp.transform_flow(flow, T.TransformList([T.ResizeTransform(4, 6, 8, 12)]))
    assert resized.shape == (8, 12, 2) and np.allclose(resized[..., 1], 2.0)
    assert resized[..., 0].max() == pytest.approx(10.0)  # 5 px at 2x scale
    cropped = vp.transform_flow(flow, T.TransformList([T.CropTransform(1, 0, 3, 2)]))
    assert np.array_equal(cropped[..., 0], np.tile(np.arange(1, 4), (2, 1)))
    with pytest.raises(ValueError, match="RotationTransform"):
        vp.transform_flow(flow, T.TransformList([T.RotationTransform(4, 6, 10)]))


def test_reference_candidates(val):
    video = [d for d in val if d["video_id"] == 1]
    samples = vp.reference_candidates(video, [-5, 5], annotated_only=True)
    assert [s["frame_id"] for s in samples] == [5, 10, 15, 20, 25, 30]
    assert [[r["frame_id"] for r in s["references"]] for s in samples[:2]] == [[10], [5, 15]]
    prev = vp.reference_candidates(video, [-1], annotated_only=False)
    assert [r["frame_id"] for r in prev[0]["references"]] == [4]
    alone = vp.reference_candidates(video[:5], [-5, 5], annotated_only=True)
    assert alone[0]["references"][0]["frame_id"] == 5  # no neighbour: the frame itself


def test_inference_sampler_gives_whole_videos_per_process(val, monkeypatch):
    parts = []
    for rank in range(3):
        monkeypatch.setattr(vp.comm, "get_world_size", lambda: 3)
        monkeypatch.setattr(vp.comm, "get_rank", lambda rank=rank: rank)
        parts.append(list(vp.VideoInferenceSampler(val)))
    assert sorted(i for p in parts for i in p) == list(range(len(val)))
    for p in parts:
        videos = [val[i]["video_id"] for i in p]
        assert len(p) % 30 == 0 and len(set(videos)) == len(p) // 30
        assert all(
            val[i]["frame_id"] < val[j]["frame_id"]
            for i, j in zip(p, p[1:])
            if val[i]["video_id"] == val[j]["video_id"]
        )
    shuffled = [val[1], val[0]]
    with pytest.raises(ValueError, match="not consecutive and in frame order"):
        vp.VideoInferenceSampler(shuffled)


def test_loader_reads_cityscapes_vps_ids_and_names_bad_annotations(tmp_path):
    images = [
        {"id": 20000 + f, "file_name": f"0002_{f:04d}.png", "height": 4, "width": 4} for f in (1, 2)
    ]
    (tmp_path / "all.json").write_text(json.dumps({"images": images}))
    cats = [{"id": 1, "name": "car", "isthing": 1}]
    # Cityscapes-VPS: string ids in the panoptic json, integer ids in the all-frames json
    pan = {
        "images": [{**images[1], "id": "0002_0002_city"}],
        "annotations": [{"image_id": "0002_0002_city", "file_name": "x.png", "segments_info": []}],
        "categories": cats,
    }
    (tmp_path / "pan.json").write_text(json.dumps(pan))
    dicts = vp.load_video_panoptic(
        str(tmp_path / "all.json"), str(tmp_path / "pan.json"), "img", "png"
    )
    assert [(d["video_id"], d["frame_id"], d["is_annotated"]) for d in dicts] == [
        (2, 1, False),
        (2, 2, True),
    ]
    assert [d["image_id"] for d in dicts] == [20001, "0002_0002_city"]  # GT ids for PQ
    pan["images"][0] = {**images[0], "id": 30001}
    pan["annotations"][0]["image_id"] = 30001
    (tmp_path / "pan.json").write_text(json.dumps(pan))
    with pytest.raises(ValueError, match=r"\(video, frame\) \[\(3, 1\)\] have no frame"):
        vp.load_video_panoptic(str(tmp_path / "all.json"), str(tmp_path / "pan.json"), "img", "png")


def test_mapper_flips_target_reference_and_flow_together(val):
    cfg = setup_cfg(CONFIG, ["MODEL.WEIGHTS", ""])
    kwargs = VideoPanopticMapper.from_config(cfg, True)
    kwargs["augmentations"] = [T.RandomFlip(prob=1.0)]
    mapper = VideoPanopticMapper(**kwargs)
    sample = next(
        s for s in mapper.prepare_dataset(val) if s["video_id"] == 1 and s["frame_id"] == 10
    )
    sample["references"] = [r for r in sample["references"] if r["frame_id"] == 15]
    out = mapper(sample)
    target, ref = out["instances"], out["ref"]["instances"]
    assert out["image"].shape == out["ref"]["image"].shape == (3, 128, 192)
    assert out["flow"].shape == (2, 128, 192)
    common = set(target.gt_track_ids.tolist()) & set(ref.gt_track_ids.tolist())
    assert len(common) >= 2
    flow = out["flow"].numpy()
    for tid in common:  # the flipped flow still carries each flipped object onto itself
        m = target.gt_masks.tensor[target.gt_track_ids == tid][0].numpy()
        r = ref.gt_masks.tensor[ref.gt_track_ids == tid][0].numpy()
        ys, xs = np.nonzero(m)
        tx = np.clip(np.rint(xs + flow[0, ys, xs]).astype(int), 0, 191)
        ty = np.clip(np.rint(ys + flow[1, ys, xs]).astype(int), 0, 127)
        hidden = ref.gt_masks.tensor[ref.gt_track_ids != tid].any(dim=0).numpy()[ty, tx]
        assert r[ty, tx][~hidden].mean() > 0.9
    test = VideoPanopticMapper(cfg, False)(val[9])  # frame 10: flow to frame 9
    assert test["flow"].shape == (2, 128, 192) and test["frame_id"] == 10
    assert "flow" not in VideoPanopticMapper(cfg, False)(val[0])  # a video's first frame


def test_frame_keys_of_the_cityscapes_vps_id_schemes():
    assert vp.frame_key(50025) == (5, 25)  # im_all_info: video * 10000 + frame
    assert vp.frame_key("0005_0025_frankfurt_000000_001736") == (5, 25)  # panoptic_gt json
    assert vp.frame_key("x", "/a/0012_0030_lindau_000000_000019_final_mask.png") == (12, 30)
    with pytest.raises(ValueError, match="'frankfurt_1'"):
        vp.frame_key("frankfurt_1", "frankfurt_1.png")
