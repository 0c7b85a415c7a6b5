"""VideoInstanceEvaluator: per-frame COCO AP over the annotated frames, pooled over videos and
split by the outputs' is_keyframe."""

import json

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, BoxMode, Instances
from pycocotools import mask as mask_util

from vision_plugins.data.video_instances import register_youtube_vis
from vision_plugins.evaluation import build_evaluator
from vision_plugins.evaluation.video_instances import VideoInstanceEvaluator


def _perfect(d):
    """Instances equal to the non-crowd ground truth of dataset dict ``d``."""
    anns = [a for a in d["annotations"] if not a["iscrowd"]]
    inst = Instances((d["height"], d["width"]))
    boxes = [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in anns]
    inst.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.scores = torch.ones(len(anns))
    inst.pred_classes = torch.tensor([a["category_id"] for a in anns], dtype=torch.int64)
    masks = [mask_util.decode(a["segmentation"]).astype(bool) for a in anns]
    inst.pred_masks = torch.from_numpy(
        np.stack(masks) if masks else np.zeros((0, d["height"], d["width"]), bool)
    )
    return inst


def _garbage(d):
    """Confident wrong detections covering the whole frame, in every class."""
    n = 3
    inst = Instances((d["height"], d["width"]))
    inst.pred_boxes = Boxes(torch.tensor([[0, 0, d["width"], d["height"]]] * n, dtype=torch.float))
    inst.scores = torch.ones(n)
    inst.pred_classes = torch.arange(n)
    inst.pred_masks = torch.ones((n, d["height"], d["width"]), dtype=torch.bool)
    return inst


def _run(evaluator, dicts, make, keyframe=None):
    evaluator.reset()
    for d in dicts:  # one frame at a time, in video order, as the video test loader does
        out = {"instances": make(d)}
        if keyframe is not None:
            out["is_keyframe"] = keyframe(d)
        evaluator.process([d], [out])
    return evaluator.evaluate()


@pytest.fixture(scope="module")
def vp_val():
    return DatasetCatalog.get("vp_video_instances_val")


def test_built_for_evaluator_type(tmp_path):
    cfg = get_cfg()
    evaluator = build_evaluator(cfg, "vp_video_instances_val", str(tmp_path))
    assert isinstance(evaluator, VideoInstanceEvaluator)
    # the annotated frames' COCO ground truth is kept in the output directory
    with open(tmp_path / "vp_video_instances_val__annotated_frames_coco_format.json") as f:
        gt = json.load(f)
    assert len(gt["images"]) == 48
    assert {c["id"] for c in gt["categories"]} == {1, 3, 7}


def test_perfect_predictions_and_unannotated_frames_ignored(vp_val):
    """Perfect predictions on annotated frames, confident garbage on the others: AP 100."""
    evaluator = VideoInstanceEvaluator("vp_video_instances_val", distributed=False)
    results = _run(evaluator, vp_val, lambda d: _perfect(d) if d["is_annotated"] else _garbage(d))
    for task in ("bbox", "segm"):
        assert results[task]["AP"] == pytest.approx(100.0)
        assert results[task]["AP50"] == pytest.approx(100.0)
        assert not any(k.endswith("keyframes") for k in results[task])  # no flags, no split
    assert results["video"] == {"num_videos": 8, "num_annotated_frames": 48}
    # ... while garbage on the annotated frames is scored
    results = _run(evaluator, vp_val, _garbage)
    assert results["segm"]["AP"] < 5 and results["bbox"]["AP"] < 5


def test_perfect_on_vp_val_with_keyframes(vp_val):
    """Every frame a keyframe except frame ids 10, 20, 30: both subsets perfect, counts right."""
    evaluator = VideoInstanceEvaluator("vp_video_instances_val", distributed=False)
    results = _run(evaluator, vp_val, _perfect, keyframe=lambda d: d["frame_id"] % 10 != 0)
    assert results["video"] == {
        "num_videos": 8,
        "num_annotated_frames": 48,
        "num_keyframes": 24,
        "num_nonkeyframes": 24,
    }
    for task in ("bbox", "segm"):
        for key in ("AP", "AP-keyframes", "AP-nonkeyframes", "AP50-keyframes", "APm-nonkeyframes"):
            assert results[task][key] == pytest.approx(100.0), (task, key)


@pytest.fixture()
def tiny_clip(tmp_path):
    """One video of 4 annotated 10x10 frames with one 'dog' each (a 4x4 square moving right)."""
    masks = []
    for f in range(4):
        m = np.zeros((10, 10), np.uint8)
        m[2:6, f : f + 4] = 1
        masks.append(m)
    data = {
        "videos": [
            {"id": 1, "file_names": [f"{f}.jpg" for f in range(4)], "height": 10, "width": 10}
        ],
        "categories": [{"id": 1, "name": "dog"}, {"id": 2, "name": "cat"}],
        "annotations": [
            {
                "id": 1,
                "video_id": 1,
                "category_id": 1,
                "iscrowd": 0,
                "segmentations": [
                    {
                        "size": [10, 10],
                        "counts": mask_util.encode(np.asfortranarray(m))["counts"].decode(),
                    }
                    for m in masks
                ],
            }
        ],
    }
    path = tmp_path / "clip.json"
    path.write_text(json.dumps(data))
    name = "test_video_instances_tiny_clip"
    register_youtube_vis(name, {}, str(path), str(tmp_path))
    yield name
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)
    MetadataCatalog.remove(name + "__annotated_frames")
    DatasetCatalog.remove(name + "__annotated_frames")


@pytest.mark.parametrize("fast, distributed", [(True, True), (False, False)])
def test_keyframes_perfect_nonkeyframes_empty(tiny_clip, fast, distributed):
    """Frames 1 and 3 are keyframes with perfect predictions, frames 2 and 4 predict nothing:
    AP-keyframes 100, AP-nonkeyframes 0, pooled: precision 1 up to recall 1/2, i.e. 51 of the
    101 recall thresholds -> 100 * 51 / 101. Same numbers from the official pycocotools COCOeval
    and from the fast implementation."""
    dicts = DatasetCatalog.get(tiny_clip)
    evaluator = VideoInstanceEvaluator(tiny_clip, distributed=distributed, use_fast_impl=fast)

    def predict(d):
        inst = _perfect(d)
        return inst if d["frame_id"] % 2 == 1 else inst[:0]

    results = _run(
        evaluator, dicts, predict, keyframe=lambda d: torch.tensor(d["frame_id"] % 2 == 1)
    )
    pooled = 100 * 51 / 101
    for task in ("bbox", "segm"):
        res = results[task]
        assert res["AP"] == pytest.approx(pooled) and res["AP-dog"] == pytest.approx(pooled)
        assert res["AP-keyframes"] == pytest.approx(100.0)
        assert res["AP-nonkeyframes"] == pytest.approx(0.0)
        assert res["AP75-keyframes"] == pytest.approx(100.0)
        assert res["AP75-nonkeyframes"] == pytest.approx(0.0)
        assert 0 < res["AP"] < 100
    assert results["video"] == {
        "num_videos": 1,
        "num_annotated_frames": 4,
        "num_keyframes": 2,
        "num_nonkeyframes": 2,
    }
    assert np.isnan(results["segm"]["AP-cat"])  # no cat in the ground truth
    # evaluating again gives the same numbers (category ids are not re-mapped in place)
    np.testing.assert_equal(evaluator.evaluate(), results)


def test_needs_a_video_dataset():
    with pytest.raises(KeyError, match="video_id / is_annotated"):
        VideoInstanceEvaluator("vp_shapes_val")
