"""Video instance data: the YouTube-VIS loader, registration, and vp_video_instances made from
vp_video_panoptic."""

import copy
import json

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, DatasetMapper, MetadataCatalog, detection_utils
from detectron2.structures import BoxMode
from pycocotools import mask as mask_util

from vision_plugins.data import video_instances as vi
from vision_plugins.data.panoptic import read_panoptic_ids
from vision_plugins.data.video_panoptic import VideoInferenceSampler, video_order


def _box(y0, y1, x0, x1, shape):
    m = np.zeros(shape, np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


def _uncompressed(mask):
    """COCO uncompressed RLE: run lengths over the column-major pixels, starting with 0s."""
    flat = mask.flatten(order="F")
    counts, value, run = [], 0, 0
    for v in flat:
        if v != value:
            counts.append(run)
            value, run = v, 0
        run += 1
    counts.append(run)
    return {"size": list(mask.shape), "counts": counts}


def _compressed(mask):
    rle = mask_util.encode(np.asfortranarray(mask))
    return {"size": list(mask.shape), "counts": rle["counts"].decode("ascii")}


SHAPE_A, SHAPE_B = (8, 10), (6, 6)  # video 7: 3 frames of 8x10; video 3: 2 frames of 6x6
M_UNCOMP = _box(1, 3, 1, 4, SHAPE_A)  # rows 1-2, cols 1-3
M_COMP = _box(4, 7, 5, 9, SHAPE_A)  # rows 4-6, cols 5-8: bbox [5, 4, 4, 3]
POLY_A = [[2, 1, 6, 1, 6, 4, 2, 4]]  # pixels x 2..5, y 1..3
POLY_B = [[0, 0, 3, 0, 3, 2, 0, 2]]  # pixels x 0..2, y 0..1


def _json(with_annotations=True):
    data = {
        "videos": [
            {
                "id": 7,
                "file_names": ["v7/00000.jpg", "v7/00005.jpg", "v7/00010.jpg"],
                "height": 8,
                "width": 10,
                "length": 3,
            },
            {"id": 3, "file_names": ["v3/a.jpg", "v3/b.jpg"], "height": 6, "width": 6, "length": 2},
        ],
        "categories": [{"id": 5, "name": "cat"}, {"id": 2, "name": "dog"}],
    }
    if with_annotations:
        data["annotations"] = [
            {
                "id": 11,
                "video_id": 7,
                "category_id": 5,
                "segmentations": [_uncompressed(M_UNCOMP), _compressed(M_COMP), None],
                "bboxes": [[1.0, 1.0, 3.0, 2.0], None, None],
                "areas": [6, 12, None],
                "iscrowd": 0,
            },
            {  # no "bboxes" at all
                "id": 12,
                "video_id": 7,
                "category_id": 2,
                "segmentations": [None, POLY_A, None],
                "iscrowd": 0,
            },
            {
                "id": 13,
                "video_id": 3,
                "category_id": 5,
                "segmentations": [POLY_B, None],
                "bboxes": [None, None],
                "iscrowd": 1,
            },
        ]
    return data


def _write(tmp_path, data, name="ytvis.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def _decode(ann):
    return mask_util.decode(ann["segmentation"])


def test_youtube_vis_dicts_exact(tmp_path):
    json_file = _write(tmp_path, _json())
    name = "test_ytvis_exact"
    vi.register_youtube_vis(name, {}, json_file, "/imgs")
    try:
        dicts = DatasetCatalog.get(name)
        meta = MetadataCatalog.get(name)
        # categories sorted by id: dog (2) -> 0, cat (5) -> 1, set lazily at load
        assert meta.thing_classes == ["dog", "cat"]
        assert meta.thing_dataset_id_to_contiguous_id == {2: 0, 5: 1}
        assert meta.evaluator_type == "video_instances" and meta.json_file == json_file
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)

    # ordered by video id then frame; image_id = video_id * 10000 + frame_id
    frames = [(d["video_id"], d["frame_id"], d["image_id"]) for d in dicts]
    assert frames == [(3, 1, 30001), (3, 2, 30002), (7, 1, 70001), (7, 2, 70002), (7, 3, 70003)]
    assert [d["file_name"] for d in dicts] == [
        "/imgs/v3/a.jpg",
        "/imgs/v3/b.jpg",
        "/imgs/v7/00000.jpg",
        "/imgs/v7/00005.jpg",
        "/imgs/v7/00010.jpg",
    ]
    assert [(d["height"], d["width"]) for d in dicts] == [(6, 6)] * 2 + [(8, 10)] * 3
    assert all(d["is_annotated"] for d in dicts)
    assert [len(d["annotations"]) for d in dicts] == [1, 0, 1, 2, 0]
    for d in dicts:
        for ann in d["annotations"]:
            assert ann["bbox_mode"] == BoxMode.XYWH_ABS
            assert isinstance(ann["segmentation"]["counts"], str)
            assert ann["segmentation"]["size"] == [d["height"], d["width"]]
            assert set(ann) == {
                "bbox",
                "bbox_mode",
                "segmentation",
                "category_id",
                "iscrowd",
                "track_id",
            }

    (b1,) = dicts[0]["annotations"]  # polygon, null bbox -> box of the mask; crowd
    assert (b1["track_id"], b1["category_id"], b1["iscrowd"]) == (13, 1, 1)
    assert b1["bbox"] == [0.0, 0.0, 3.0, 2.0]
    np.testing.assert_array_equal(_decode(b1), _box(0, 2, 0, 3, SHAPE_B))

    (a1,) = dicts[2]["annotations"]  # uncompressed RLE, given bbox
    assert (a1["track_id"], a1["category_id"], a1["iscrowd"]) == (11, 1, 0)
    assert a1["bbox"] == [1.0, 1.0, 3.0, 2.0]
    np.testing.assert_array_equal(_decode(a1), M_UNCOMP)

    a2, a3 = dicts[3]["annotations"]  # compressed RLE (null bbox) and polygon (no bboxes key)
    assert (a2["track_id"], a2["category_id"], a2["bbox"]) == (11, 1, [5.0, 4.0, 4.0, 3.0])
    np.testing.assert_array_equal(_decode(a2), M_COMP)
    assert (a3["track_id"], a3["category_id"], a3["bbox"]) == (12, 0, [2.0, 1.0, 4.0, 3.0])
    np.testing.assert_array_equal(_decode(a3), _box(1, 4, 2, 6, SHAPE_A))

    # whole videos in frame order: the video inference sampler accepts it
    assert video_order(dicts) == {3: [0, 1], 7: [2, 3, 4]}
    assert list(VideoInferenceSampler(dicts)) == [0, 1, 2, 3, 4]


def test_youtube_vis_without_annotations(tmp_path):
    dicts = vi.load_youtube_vis_json(_write(tmp_path, _json(False)), "root")
    assert len(dicts) == 5 and not any(d["is_annotated"] for d in dicts)
    assert all(d["annotations"] == [] for d in dicts)
    data = _json(False)
    data["annotations"] = None  # YouTube-VIS valid jsons: "annotations": null
    assert not any(d["is_annotated"] for d in vi.load_youtube_vis_json(_write(tmp_path, data), ""))


def test_youtube_vis_metadata_map_is_used(tmp_path):
    name = "test_ytvis_given_map"
    vi.register_youtube_vis(
        name,
        {"thing_classes": ["cat", "dog"], "thing_dataset_id_to_contiguous_id": {5: 0, 2: 1}},
        _write(tmp_path, _json()),
        "",
    )
    try:
        dicts = DatasetCatalog.get(name)
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    assert [a["category_id"] for d in dicts for a in d["annotations"]] == [0, 0, 0, 1]


def test_youtube_vis_dicts_work_with_detectron2_mapper(tmp_path, monkeypatch):
    dicts = vi.load_youtube_vis_json(_write(tmp_path, _json()), "")
    mapper = DatasetMapper(
        is_train=True,
        augmentations=[],
        image_format="BGR",
        use_instance_mask=True,
        instance_mask_format="bitmask",
    )
    monkeypatch.setattr(
        detection_utils, "read_image", lambda *a, **k: np.zeros((8, 10, 3), np.uint8)
    )
    out = mapper(copy.deepcopy(dicts[3]))
    inst = out["instances"]
    assert inst.gt_classes.tolist() == [1, 0]
    assert inst.gt_boxes.tensor.tolist() == [[5.0, 4.0, 9.0, 7.0], [2.0, 1.0, 6.0, 4.0]]
    np.testing.assert_array_equal(inst.gt_masks.tensor[0].numpy(), M_COMP.astype(bool))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("videos"), "no 'videos' list"),
        (lambda d: d["videos"][1].pop("file_names"), "videos[1] lacks key(s) ['file_names']"),
        (lambda d: d["videos"][0].update(length=4), "video 7: 'length' is 4 but it has 3"),
        (
            lambda d: d["annotations"][0]["segmentations"].pop(),
            "annotation 11 (video 7): 'segmentations' has 2 entries but the video has 3 frames",
        ),
        (
            lambda d: d["annotations"][2]["bboxes"].append(None),
            "annotation 13 (video 3): 'bboxes' has 3 entries but the video has 2 frames",
        ),
        (lambda d: d["annotations"][1].pop("segmentations"), "annotations[1] lacks key(s)"),
        (
            lambda d: d["annotations"][1].update(video_id=99),
            "annotation 12 (video 99): video_id 99 is not in 'videos'",
        ),
        (
            lambda d: d["annotations"][1].update(category_id=4),
            "annotation 12 (video 7): category_id 4 is not in the categories [2, 5]",
        ),
        (
            lambda d: d["annotations"][2]["segmentations"].__setitem__(0, {"size": [8, 10]}),
            "annotation 13 (video 3), frame 1 lacks key(s) ['counts']",
        ),
        (
            lambda d: d["annotations"][2]["segmentations"].__setitem__(0, _compressed(M_COMP)),
            "annotation 13 (video 3), frame 1: RLE size [8, 10] is not the video's",
        ),
        (
            lambda d: d["annotations"][1]["segmentations"].__setitem__(1, [1, 2, 3]),
            "annotation 12 (video 7), frame 2: a polygon segmentation must be",
        ),
        (lambda d: d.pop("categories"), "no 'categories' list"),
    ],
)
def test_youtube_vis_malformed(tmp_path, mutate, message):
    data = _json()
    mutate(data)
    json_file = _write(tmp_path, data)
    with pytest.raises(ValueError) as e:
        vi.load_youtube_vis_json(json_file, "")
    assert json_file in str(e.value) and message in str(e.value)


def test_builtin_youtube_vis_registered_lazily(tmp_path):
    vi.register_builtin_youtube_vis(str(tmp_path))  # nothing exists there: nothing is read
    try:
        meta = MetadataCatalog.get("ytvis_2019_train_vp")
        assert meta.json_file == str(tmp_path / "ytvis_2019" / "train.json")
        assert meta.image_root == str(tmp_path / "ytvis_2019" / "train" / "JPEGImages")
        assert MetadataCatalog.get("ytvis_2021_valid_vp").json_file == str(
            tmp_path / "ytvis_2021" / "valid.json"
        )
        assert meta.evaluator_type == "video_instances"
    finally:
        vi.register_builtin_youtube_vis()


# ---------------------------------------------------------------------------------------------
# vp_video_instances from vp_video_panoptic


@pytest.fixture(scope="module")
def panoptic_val():
    return DatasetCatalog.get("vp_video_panoptic_val")


def test_video_panoptic_to_instances_matches_the_pngs(panoptic_val):
    meta = MetadataCatalog.get("vp_video_panoptic_val")
    frames = [d for d in panoptic_val if d["video_id"] in (1, 2, 3)]
    out = vi.video_panoptic_to_instances(frames, meta)
    assert [(d["video_id"], d["frame_id"], d["is_annotated"]) for d in out] == [
        (d["video_id"], d["frame_id"], d["is_annotated"]) for d in frames
    ]
    assert [d["image_id"] for d in out] == [d["image_id"] for d in frames]
    crowd = 0
    for src, d in zip(frames, out):
        assert "segments_info" not in d and "pan_seg_file_name" not in d
        if not src["is_annotated"]:
            assert d["annotations"] == []
            continue
        ids = read_panoptic_ids(src["pan_seg_file_name"])
        things = {s["id"]: s for s in src["segments_info"] if s["isthing"]}
        assert [a["track_id"] for a in d["annotations"]] == list(things)  # stuff excluded
        assert any(not s["isthing"] for s in src["segments_info"])
        for a in d["annotations"]:
            seg = things[a["track_id"]]
            mask = mask_util.decode(a["segmentation"]).astype(bool)
            np.testing.assert_array_equal(mask, ids == seg["id"])
            ys, xs = np.nonzero(mask)
            assert a["bbox"] == [xs.min(), ys.min(), np.ptp(xs) + 1, np.ptp(ys) + 1]
            assert a["bbox"] == seg["bbox"]  # the panoptic json's own box
            assert a["category_id"] == seg["category_id"] and a["iscrowd"] == seg["iscrowd"]
            crowd += a["iscrowd"]
    assert crowd > 0  # video 2 has a crowd cluster


def test_vp_video_instances_registered(panoptic_val):
    val = DatasetCatalog.get("vp_video_instances_val")
    meta = MetadataCatalog.get("vp_video_instances_val")
    pmeta = MetadataCatalog.get("vp_video_panoptic_val")
    assert meta.evaluator_type == "video_instances"
    assert meta.thing_classes == pmeta.thing_classes == ["circle", "square", "triangle"]
    assert meta.thing_dataset_id_to_contiguous_id == pmeta.thing_dataset_id_to_contiguous_id
    assert len(val) == len(panoptic_val) == 8 * 30
    annotated = [d for d in val if d["is_annotated"]]
    assert len(annotated) == 48 and all(d["frame_id"] % 5 == 0 for d in annotated)
    # track ids are consistent: an object keeps its category over its video
    cats = {}
    for d in annotated:
        for a in d["annotations"]:
            assert cats.setdefault((d["video_id"], a["track_id"]), a["category_id"]) == (
                a["category_id"]
            )
    assert "vp_video_instances_train" in DatasetCatalog.list()
