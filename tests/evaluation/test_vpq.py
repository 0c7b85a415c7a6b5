"""VPQ (video panoptic quality): hand-counted tubes, panopticapi's image PQ for k = 0, streaming
and the ``video_panoptic`` evaluator on a tiny fake video dataset."""

import json
import logging
import math

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from panopticapi.evaluation import pq_compute

from vision_plugins.data.panoptic import panoptic_metadata
from vision_plugins.data.synthetic.panoptic import write_panoptic_png
from vision_plugins.evaluation import build_evaluator
from vision_plugins.evaluation.vpq import AnnotatedFramesOnly, VPQAccumulator, VPQEvaluator

ROAD, CAR, PERSON = 0, 1, 2  # category keys of the accumulator tests
CATEGORIES = {ROAD: False, CAR: True}
GROUPS = ("All", "Things", "Stuff")

# one annotated frame: road (id 7, 5 px) and a car (id 1001, 3 px)
GT = np.array([[7, 7, 7, 1001], [7, 7, 1001, 1001]])
GT_SEGMENTS = {7: (ROAD, 0), 1001: (CAR, 0)}

# The car of a 6-frame video is predicted perfectly in every frame, with pred id A in frames 1-3
# and B in frames 4-6 (an id switch); road is perfect. Tubes of n frames (k = 5 (n - 1)):
#   k=0  (6 tubes): all TP                                    -> car PQ 1
#   k=5  (5 tubes): 1-2, 2-3, 4-5, 5-6 TP (IoU 1); 3-4: A and B have IoU 1/2 each (not > 1/2)
#                   -> FN 1, FP 2. tp 4, fp 2, fn 1, iou 4    -> car PQ 4 / 5.5 = 8/11
#   k=10 (4 tubes): 1-3, 4-6 TP; 2-4: A TP (IoU 2/3) + B FP; 3-5: B TP (2/3) + A FP
#                   tp 4, fp 2, fn 0, iou 10/3                -> car PQ (10/3) / 5 = 2/3
#   k=15 (3 tubes): 1-4: A TP (3/4) + B FP; 2-5: 2 + 2 frames -> FN 1, FP 2; 3-6: B TP + A FP
#                   tp 2, fp 4, fn 1, iou 3/2                 -> car PQ 1.5 / 4.5 = 1/3
ID_SWITCH_CAR_PQ = {0: 1.0, 5: 8 / 11, 10: 2 / 3, 15: 1 / 3}
ID_SWITCH_CAR_COUNTS = {0: (6, 0, 0, 6), 5: (4, 2, 1, 4), 10: (4, 2, 0, 10 / 3), 15: (2, 4, 1, 1.5)}


def _pred(car_id, road_id=3):
    return np.where(GT == 1001, car_id, road_id)


def _feed(acc, video, car_ids):
    for car_id in car_ids:
        acc.add_frame(video, GT, GT_SEGMENTS, _pred(car_id), {3: ROAD, car_id: CAR})


def _counts(per_class):
    return (per_class["tp"], per_class["fp"], per_class["fn"], per_class["iou"])


def test_perfect_prediction_is_100_for_every_k():
    acc = VPQAccumulator(CATEGORIES)
    _feed(acc, "v", [50] * 6)
    summary = acc.summary()
    for k in (0, 5, 10, 15):
        for group in GROUPS:
            assert summary["per_k"][k][group]["pq"] == pytest.approx(1.0)
    for group in GROUPS:
        assert summary["mean"][group]["pq"] == pytest.approx(1.0)


def test_id_switch_lowers_vpq_k_by_the_hand_counts():
    acc = VPQAccumulator(CATEGORIES)
    _feed(acc, "v", [50, 50, 50, 51, 51, 51])
    summary = acc.summary()
    for k, car_pq in ID_SWITCH_CAR_PQ.items():
        result = summary["per_k"][k]
        assert _counts(result["per_class"][CAR]) == pytest.approx(ID_SWITCH_CAR_COUNTS[k])
        assert result["Things"]["pq"] == pytest.approx(car_pq)
        assert result["Stuff"]["pq"] == pytest.approx(1.0)
        assert result["All"]["pq"] == pytest.approx((1 + car_pq) / 2)
    assert summary["per_k"][0]["All"]["pq"] == pytest.approx(1.0)  # image PQ unchanged
    assert summary["mean"]["Things"]["pq"] == pytest.approx(15 / 22)  # (1 + 8/11 + 2/3 + 1/3) / 4
    assert summary["mean"]["Stuff"]["pq"] == pytest.approx(1.0)
    assert summary["mean"]["All"]["pq"] == pytest.approx(37 / 44)  # (15/22 + 1) / 2


def test_windows_per_video_is_frames_minus_n_plus_1():
    acc = VPQAccumulator(CATEGORIES)
    _feed(acc, "v", [50, 50, 50, 51, 51, 51])
    summary = acc.summary()
    for k, windows in {0: 6, 5: 5, 10: 4, 15: 3}.items():
        assert summary["per_k"][k]["windows"] == windows
        assert _counts(summary["per_k"][k]["per_class"][ROAD]) == (windows, 0, 0, windows)
    short = VPQAccumulator(CATEGORIES)
    _feed(short, "v", [50] * 3)  # 3 annotated frames: no 4-frame tube
    summary = short.summary()
    assert {k: summary["per_k"][k]["windows"] for k in (0, 5, 10, 15)} == {0: 3, 5: 2, 10: 1, 15: 0}
    assert summary["per_k"][15]["All"]["n"] == 0
    assert math.isnan(summary["per_k"][15]["All"]["pq"])


def test_crowd_rule():
    # road (1) over a car crowd (2) and a person crowd (3). Pred 20 (car) lies 4/4 on the car
    # crowd: ignored. Pred 21 lies 4/4 on the person crowd: a FP as a car, ignored as a person.
    gt = np.array([[1] * 6, [1] * 6, [2, 2, 2, 3, 3, 3], [2, 2, 2, 3, 3, 3]])
    gt_segments = {1: (ROAD, 0), 2: (CAR, 1), 3: (PERSON, 1)}
    pred = np.array([[10] * 6, [10] * 6, [20, 20, 0, 21, 21, 0], [20, 20, 0, 21, 21, 0]])
    categories = {ROAD: False, CAR: True, PERSON: True}

    acc = VPQAccumulator(categories, ks=(0,))
    acc.add_frame("v", gt, gt_segments, pred, {10: ROAD, 20: CAR, 21: CAR})
    result = acc.summary()["per_k"][0]
    assert _counts(result["per_class"][CAR]) == (0, 1, 0, 0.0)
    assert PERSON not in result["per_class"]  # crowd ground truth is neither TP nor FN
    assert result["Things"]["pq"] == 0.0
    assert result["All"]["pq"] == pytest.approx(0.5)  # road 1, car 0

    acc = VPQAccumulator(categories, ks=(0,))
    acc.add_frame("v", gt, gt_segments, pred, {10: ROAD, 20: CAR, 21: PERSON})
    result = acc.summary()["per_k"][0]
    assert set(result["per_class"]) == {ROAD}
    assert result["All"]["pq"] == pytest.approx(1.0)
    assert result["Things"]["n"] == 0 and math.isnan(result["Things"]["pq"])


def test_void_rule():
    # void = gt 0. Car 30: 5 px, 3 on the car (4 px), 2 on void: IoU = 3 / (5 + 4 - 3 - 2) = 3/4
    # (3/6 = 1/2, no match, without removing the void part). Car 31: 3 px, 2 on void -> not FP.
    # Road 10: 7 of the 8 road px -> IoU 7/8.
    gt = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 2, 2], [0, 0, 2, 2]])
    gt_segments = {1: (ROAD, 0), 2: (CAR, 0)}
    pred = np.array([[10, 10, 10, 10], [10, 10, 10, 31], [31, 30, 30, 30], [31, 30, 30, 0]])
    pred_segments = {10: ROAD, 30: CAR, 31: CAR}
    acc = VPQAccumulator(CATEGORIES, ks=(0,))
    acc.add_frame("v", gt, gt_segments, pred, pred_segments)
    result = acc.summary()["per_k"][0]
    assert _counts(result["per_class"][CAR]) == (1, 0, 0, pytest.approx(0.75))
    assert result["per_class"][ROAD]["pq"] == pytest.approx(7 / 8)
    assert result["All"]["pq"] == pytest.approx(0.8125)

    # 31 now on 2 void + 2 road px: exactly half void is a FP; road 6/8
    pred[1, 2] = 31
    acc = VPQAccumulator(CATEGORIES, ks=(0,))
    acc.add_frame("v", gt, gt_segments, pred, pred_segments)
    result = acc.summary()["per_k"][0]
    assert _counts(result["per_class"][CAR]) == (1, 1, 0, pytest.approx(0.75))
    assert result["per_class"][CAR]["pq"] == pytest.approx(0.75 / 1.5)
    assert result["per_class"][ROAD]["pq"] == pytest.approx(0.75)


def test_result_does_not_depend_on_ids_or_segment_order():
    acc = VPQAccumulator(CATEGORIES)
    _feed(acc, "v", [50, 50, 50, 51, 51, 51])
    relabelled = VPQAccumulator(CATEGORIES)
    gt = np.where(GT == 7, 2000, 5)
    for car_id in [1, 1, 1, 77, 77, 77]:
        pred = np.where(GT == 7, 999, car_id)
        relabelled.add_frame(
            "w", gt, {5: (CAR, 0), 2000: (ROAD, 0)}, pred, {car_id: CAR, 999: ROAD}
        )
    assert relabelled.summary() == acc.summary()


def test_videos_accumulate_instead_of_averaging():
    # video a: 6 perfect frames; video b: 1 frame whose car is missed (predicted void).
    # k=0: car tp 6, fn 1 -> PQ 6 / 6.5 = 12/13; per-video averaging would give car (1 + 0) / 2.
    acc = VPQAccumulator(CATEGORIES)
    _feed(acc, "a", [50] * 6)
    acc.add_frame("b", GT, GT_SEGMENTS, _pred(0), {3: ROAD})
    summary = acc.summary()
    assert summary["per_k"][0]["Things"]["pq"] == pytest.approx(12 / 13)
    assert summary["per_k"][0]["All"]["pq"] == pytest.approx(25 / 26)
    assert summary["per_k"][5]["windows"] == 5  # b (1 frame) has no 2-frame tube
    assert summary["mean"]["All"]["pq"] == pytest.approx((25 / 26 + 3) / 4)


# ---- k = 0 is panopticapi's image PQ ---------------------------------------------------------

PANOPTIC_CATEGORIES = [
    {"id": 26, "name": "car", "isthing": 1},
    {"id": 24, "name": "person", "isthing": 1},
    {"id": 7, "name": "road", "isthing": 0},
    {"id": 23, "name": "sky", "isthing": 0},
]


def _imperfect_frame(t, rng):
    """12×16 ground truth (sky, road, void, 2 cars, a person, a car crowd) and a prediction with
    a shifted car, a car called person (t = 1), cars on the crowd and on road, 10% noise."""
    gt = np.full((12, 16), 1, np.int64)  # sky
    gt[5:] = 2  # road
    gt[:2, :4] = 0  # void
    gt[6:10, 1 + t : 6 + t] = 26001
    gt[3:7, 9:13] = 26002
    gt[2:9, 14:16] = 24001
    gt[10:12, 6:11] = 26  # car crowd
    gt_segments = {
        1: (23, 0),
        2: (7, 0),
        26001: (26, 0),
        26002: (26, 0),
        24001: (24, 0),
        26: (26, 1),
    }
    pred = gt.copy()
    pred[gt == 26001] = 2
    pred[6:10, 2 + t : 7 + t] = 26001
    pred[gt == 26] = 2
    pred[10:12, 6:9] = 900  # car on the car crowd: ignored
    pred[8:10, 12:14] = 901  # car on road: FP
    noise = rng.random(gt.shape) < 0.1
    pred[noise] = rng.choice([0, 1, 2, 26001, 24001], size=int(noise.sum()))
    category = {1: 23, 2: 7, 26001: 26, 26002: 24 if t == 1 else 26, 24001: 24, 900: 26, 901: 26}
    pred_segments = {int(i): category[int(i)] for i in np.unique(pred) if i != 0}
    return gt, gt_segments, pred, pred_segments


def test_vpq0_equals_panopticapi_pq_compute(tmp_path):
    rng = np.random.default_rng(0)
    acc = VPQAccumulator({c["id"]: bool(c["isthing"]) for c in PANOPTIC_CATEGORIES}, ks=(0,))
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    images, gt_anns, pred_anns = [], [], []
    for t in range(3):
        gt, gt_segments, pred, pred_segments = _imperfect_frame(t, rng)
        acc.add_frame("video", gt, gt_segments, pred, pred_segments)
        name = f"{t}.png"
        write_panoptic_png(str(tmp_path / "gt" / name), gt)
        write_panoptic_png(str(tmp_path / "pred" / name), pred)
        images.append({"id": t, "file_name": name, "height": 12, "width": 16})
        gt_info = [
            {"id": i, "category_id": c, "iscrowd": crowd, "area": int((gt == i).sum())}
            for i, (c, crowd) in gt_segments.items()
        ]
        pred_info = [{"id": i, "category_id": c} for i, c in pred_segments.items()]
        gt_anns.append({"image_id": t, "file_name": name, "segments_info": gt_info})
        pred_anns.append({"image_id": t, "file_name": name, "segments_info": pred_info})
    gt_json = {"images": images, "annotations": gt_anns, "categories": PANOPTIC_CATEGORIES}
    (tmp_path / "gt.json").write_text(json.dumps(gt_json))
    (tmp_path / "pred.json").write_text(json.dumps({"annotations": pred_anns}))

    expected = pq_compute(
        str(tmp_path / "gt.json"),
        str(tmp_path / "pred.json"),
        gt_folder=str(tmp_path / "gt"),
        pred_folder=str(tmp_path / "pred"),
    )
    result = acc.summary()["per_k"][0]
    per_class = result["per_class"]
    assert sum(c["fp"] for c in per_class.values()) > 0 and sum(c["fn"] for c in per_class.values())
    assert 0.3 < expected["All"]["pq"] < 0.95
    for group in GROUPS:
        for metric in ("pq", "sq", "rq"):
            assert result[group][metric] == pytest.approx(expected[group][metric], abs=1e-9)
        assert result[group]["n"] == expected[group]["n"]
    for category, quality in expected["per_class"].items():
        for metric in ("pq", "sq", "rq"):
            got = per_class[category][metric] if category in per_class else 0.0
            assert got == pytest.approx(quality[metric], abs=1e-9)


# ---- streaming and validation ----------------------------------------------------------------


def test_streaming_keeps_at_most_n_max_frames_and_rejects_revisits():
    acc = VPQAccumulator(CATEGORIES)
    for i in range(30):
        _feed(acc, "a", [50])
        assert acc.num_buffered == min(i + 1, 4)
    assert acc.windows == {0: 30, 5: 29, 10: 28, 15: 27}
    two = VPQAccumulator(CATEGORIES, ks=(0, 10))
    _feed(two, "a", [50] * 30)
    assert two.num_buffered == 3
    _feed(two, "b", [50])
    assert two.num_buffered == 1  # new video, new buffer
    with pytest.raises(ValueError, match="video 'a'"):
        _feed(two, "a", [50])


def test_merge_sums_videos_and_rejects_a_split_video():
    whole = VPQAccumulator(CATEGORIES)
    _feed(whole, "a", [50, 50, 50, 51, 51, 51])
    _feed(whole, "b", [60] * 4)
    first, second = VPQAccumulator(CATEGORIES), VPQAccumulator(CATEGORIES)
    _feed(first, "a", [50, 50, 50, 51, 51, 51])
    _feed(second, "b", [60] * 4)
    first.merge(second)
    assert first.summary() == whole.summary()
    split = VPQAccumulator(CATEGORIES)
    _feed(split, "b", [60])
    with pytest.raises(ValueError, match="'b'"):
        first.merge(split)


@pytest.mark.parametrize("ks", [(3,), (-5,), (), (0, 0)])
def test_bad_windows_are_rejected(ks):
    with pytest.raises(ValueError, match="ks"):
        VPQAccumulator(CATEGORIES, ks=ks)


def test_bad_predictions_are_rejected():
    acc = VPQAccumulator(CATEGORIES)
    with pytest.raises(ValueError, match="category 9"):
        acc.add_frame("v", GT, GT_SEGMENTS, _pred(50), {3: ROAD, 50: 9})
    with pytest.raises(ValueError, match=r"ids \[50\] are in the map"):
        acc.add_frame("v", GT, GT_SEGMENTS, _pred(50), {3: ROAD})
    assert acc.videos == set()  # rejected frames leave no trace
    acc.add_frame("v", GT, GT_SEGMENTS, _pred(50), {3: ROAD, 50: CAR})
    with pytest.raises(ValueError, match="segment 50 is"):  # id 50 changes category
        acc.add_frame("v", GT, GT_SEGMENTS, _pred(50), {3: ROAD, 50: ROAD})


# ---- the evaluator on a fake video dataset ---------------------------------------------------

NAME = "vp_test_vpq_video"
VIDEO_CATEGORIES = [
    {"id": 26, "name": "car", "isthing": 1},
    {"id": 7, "name": "road", "isthing": 0},
]
GT_FRAME = np.full((4, 6), 7, np.int64)  # road 7, car 26001, void column
GT_FRAME[2:, 3:] = 26001
GT_FRAME[:2, 0] = 0


def _dicts(root, video, num_frames):
    """Raw frames 1..num_frames, every 5th annotated (GT_FRAME written as its panoptic PNG)."""
    inputs = []
    for frame in range(1, num_frames + 1):
        name = f"{video}_{frame:06d}"
        record = {
            "video_id": video,
            "frame_id": frame,
            "is_annotated": frame % 5 == 0,
            "file_name": f"{name}.jpg",
            "image_id": name,
            "height": 4,
            "width": 6,
        }
        if record["is_annotated"]:
            record["pan_seg_file_name"] = str(root / f"{name}.png")
            write_panoptic_png(record["pan_seg_file_name"], GT_FRAME)
            record["segments_info"] = [
                {"id": 7, "category_id": 0, "isthing": False, "iscrowd": 0},
                {"id": 26001, "category_id": 0, "isthing": True, "iscrowd": 0},
            ]
        inputs.append(record)
    return inputs


def _output(frame, track_id, void=0):
    """Perfect pixels; the stuff id changes from frame to frame, GT void predicted as ``void``
    (an id without a segment); unannotated frames get a different picture (never scored)."""
    road, car = 1 + frame % 3, 10 + frame % 4
    seg = torch.full((4, 6), road, dtype=torch.int32)
    seg[2:, 3:] = car
    seg[:2, 0] = void
    if frame % 5:
        seg[:] = car
    thing = {"id": car, "category_id": 0, "isthing": True}
    if track_id is not None:
        thing["track_id"] = track_id
    return {"panoptic_seg": (seg, [{"id": road, "category_id": 0, "isthing": False}, thing])}


@pytest.fixture(scope="module")
def video_dataset(tmp_path_factory):
    """Videos v0 (30 raw frames), v1 (20), v2 (10); the image-PQ json holds the annotated frames
    of v0, the only video the end-to-end test feeds. Yields ``{video: model inputs}``: the dicts
    without ``segments_info``, as the test-time mapper leaves them."""
    root = tmp_path_factory.mktemp("vpq_video")
    (root / "gt").mkdir()
    videos = {v: _dicts(root / "gt", v, n) for v, n in (("v0", 30), ("v1", 20), ("v2", 10))}
    annotated = [d for d in videos["v0"] if d["is_annotated"]]
    segments = [
        {"id": 7, "category_id": 7, "iscrowd": 0, "area": int((GT_FRAME == 7).sum())},
        {"id": 26001, "category_id": 26, "iscrowd": 0, "area": int((GT_FRAME == 26001).sum())},
    ]
    panoptic_json = {
        "images": [
            {"id": d["image_id"], "file_name": d["file_name"], "height": 4, "width": 6}
            for d in annotated
        ],
        "annotations": [
            {
                "image_id": d["image_id"],
                "file_name": f"{d['image_id']}.png",
                "segments_info": segments,
            }
            for d in annotated
        ],
        "categories": VIDEO_CATEGORIES,
    }
    (root / "panoptic.json").write_text(json.dumps(panoptic_json))
    DatasetCatalog.register(NAME, lambda: [d for dicts in videos.values() for d in dicts])
    MetadataCatalog.get(NAME).set(
        **panoptic_metadata(VIDEO_CATEGORIES),
        evaluator_type="video_panoptic",
        annotation_stride=5,
        panoptic_json=str(root / "panoptic.json"),
        panoptic_root=str(root / "gt"),
    )
    yield {
        v: [{key: x for key, x in d.items() if key != "segments_info"} for d in dicts]
        for v, dicts in videos.items()
    }
    DatasetCatalog.remove(NAME)
    MetadataCatalog.remove(NAME)


def _run(evaluator, inputs, outputs, batch=4):
    evaluator.reset()
    for i in range(0, len(inputs), batch):
        evaluator.process(inputs[i : i + batch], outputs[i : i + batch])
    return evaluator.evaluate()


def test_video_panoptic_evaluator_end_to_end(video_dataset, tmp_path):
    inputs = video_dataset["v0"]
    # the id switch of the accumulator test: track 7 in annotated frames 5, 10, 15, then 9
    outputs = [_output(d["frame_id"], 7 if d["frame_id"] <= 15 else 9) for d in inputs]
    evaluator = build_evaluator(get_cfg(), NAME, str(tmp_path))
    results = _run(evaluator, inputs, outputs)
    vpq = results["video_panoptic_seg"]
    expected = {"VPQ": 37 / 44, "VPQ_th": 15 / 22, "VPQ_st": 1.0}
    for k, car_pq in ID_SWITCH_CAR_PQ.items():
        expected.update({f"VPQ@{k}": (1 + car_pq) / 2, f"VPQ@{k}_th": car_pq, f"VPQ@{k}_st": 1.0})
    assert list(vpq) == list(expected)
    assert vpq == pytest.approx({key: 100 * v for key, v in expected.items()})
    assert results["panoptic_seg"]["PQ"] == pytest.approx(100.0)  # image PQ, annotated frames
    saved = json.loads((tmp_path / "vpq_results.json").read_text())
    assert saved["windows"] == {"VPQ@0": 6, "VPQ@5": 5, "VPQ@10": 4, "VPQ@15": 3}
    assert saved["per_class"]["VPQ@5"]["car"]["fp"] == 2


def test_untracked_things_match_only_within_a_frame(video_dataset):
    # 4 annotated frames, the car without track_id: k=0 car TP in each frame; every tube of
    # n > 1 frames has n single-frame cars of IoU 1/n -> FN 1, FP n: car PQ 0, VPQ^k = 50.
    # GT void predicted as -1, an id without a segment: void, so road stays perfect.
    inputs = video_dataset["v1"]
    outputs = [_output(d["frame_id"], None, void=-1) for d in inputs]
    vpq = _run(VPQEvaluator(NAME), inputs, outputs)["video_panoptic_seg"]
    assert vpq["VPQ@0"] == pytest.approx(100.0)
    for k in (5, 10, 15):
        assert (vpq[f"VPQ@{k}"], vpq[f"VPQ@{k}_th"]) == pytest.approx((50.0, 0.0))
    assert (vpq["VPQ"], vpq["VPQ_th"], vpq["VPQ_st"]) == pytest.approx((62.5, 25.0, 100.0))


def test_evaluator_checks_frame_order_and_empty_runs(video_dataset, caplog):
    inputs = video_dataset["v2"]
    evaluator = VPQEvaluator(NAME)
    evaluator.reset()
    with pytest.raises(ValueError, match="video 'v2' frame 5 arrived after frame 10"):
        evaluator.process([inputs[9], inputs[4]], [_output(10, 1), _output(5, 1)])
    evaluator.reset()
    unknown = {**inputs[4], "video_id": "v9"}
    with pytest.raises(KeyError, match="video 'v9' frame 5 is annotated, but dataset"):
        evaluator.process([unknown], [_output(5, 1)])
    evaluator.reset()
    evaluator.process(inputs[:4], [_output(f, 1) for f in range(1, 5)])  # no annotated frame
    with caplog.at_level(logging.WARNING):
        assert evaluator.evaluate() == {}
    assert "no annotated frame" in caplog.text


class _Recorder(DatasetEvaluator):
    def reset(self):
        self.frames = []

    def process(self, inputs, outputs):
        self.frames += [(i["frame_id"], o) for i, o in zip(inputs, outputs)]

    def evaluate(self):
        return {"frames": [f for f, _ in self.frames]}


def test_annotated_frames_only_forwards_the_annotated_pairs():
    recorder = _Recorder()
    inputs = [{"frame_id": f, "is_annotated": f % 5 == 0} for f in range(1, 13)]
    outputs = [f"out{f}" for f in range(1, 13)]
    assert _run(AnnotatedFramesOnly(recorder), inputs, outputs) == {"frames": [5, 10]}
    assert recorder.frames == [(5, "out5"), (10, "out10")]


def test_evaluator_metadata_from_the_loader_or_a_clear_error():
    name = "vp_test_vpq_lazy_metadata"
    meta = panoptic_metadata(VIDEO_CATEGORIES)
    DatasetCatalog.register(name, lambda: MetadataCatalog.get(name).set(**meta) and [])
    try:
        VPQEvaluator(name)  # the categories are set when the split is read
        assert MetadataCatalog.get(name).num_stuff == 1
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, lambda: [])
    try:
        with pytest.raises(KeyError, match="has no metadata 'thing_classes'"):
            VPQEvaluator(name)
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
