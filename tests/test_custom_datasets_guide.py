"""docs/custom_datasets.md runs as written: its Python blocks (extracted from the markdown by
their fenced-block markers) on a tiny generated dataset -- registration, the count checks, the
training script with the guide's commands (2 iterations) and ``--eval-only``."""

import json
import os
import re
import shlex
import sys

import cv2
import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from vision_plugins.engine import check_datasets, setup_cfg

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDE = os.path.join(REPO, "docs", "custom_datasets.md")
SCRIPT = "train_my_data.py"
# appended to the guide's commands to keep the test short (later overrides win)
FAST = ["SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "1",
        "SOLVER.STEPS", "()", "SOLVER.CHECKPOINT_PERIOD", "100", "DATALOADER.NUM_WORKERS", "0",
        "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MIN_SIZE_TEST", "64",
        "TEST.DETECTIONS_PER_IMAGE", "5", "MODEL.RPN.POST_NMS_TOPK_TEST", "20"]  # fmt: skip


def guide_blocks():
    """``{heading: [(language, code), ...]}`` of the fenced blocks under each ``## `` heading."""
    blocks, heading = {}, None
    text = open(GUIDE).read()
    for match in re.finditer(r"^## ([^\n]+)$|^```(\w+)\n(.*?)^```$", text, re.M | re.S):
        if match.group(1):
            heading = match.group(1).strip()
        else:
            blocks.setdefault(heading, []).append((match.group(2), match.group(3)))
    return blocks


def _python(blocks, heading):
    return [code for lang, code in blocks[heading] if lang == "python"]


def _commands(code):
    """argv (after ``python train_my_data.py``) of each command of a bash block."""
    lines = code.replace("\\\n", " ").splitlines()
    return [shlex.split(line)[2:] for line in lines if line.startswith(f"python {SCRIPT}")]


def _write_split(root, split, n, keypoints):
    folder = root / split
    folder.mkdir(parents=True)
    images, annotations = [], []
    rng = np.random.RandomState(len(split))
    for i in range(n):
        image = np.full((64, 64, 3), 40, np.uint8)
        x, y = rng.randint(4, 24, 2)
        cv2.rectangle(image, (int(x), int(y)), (int(x) + 24, int(y) + 24), (0, 200, 0), -1)
        cv2.circle(image, (48, 48), 10, (200, 0, 0), -1)
        cv2.imwrite(str(folder / f"{i}.png"), image)
        images.append({"id": i + 1, "file_name": f"{i}.png", "height": 64, "width": 64})
        square = [x, y, x + 24, y, x + 24, y + 24, x, y + 24]
        circle = [48 + 10 * v for a in np.linspace(0, 2 * np.pi, 12, endpoint=False)
                  for v in (np.cos(a), np.sin(a))]  # fmt: skip
        shapes = [(1, [x, y, 24, 24], square)]
        if not keypoints:
            shapes.append((2, [38, 38, 20, 20], circle))
        for category, bbox, poly in shapes:
            ann = {"id": len(annotations) + 1, "image_id": i + 1, "category_id": category,
                   "bbox": [float(v) for v in bbox], "area": float(bbox[2] * bbox[3]),
                   "segmentation": [[float(v) for v in poly]], "iscrowd": 0}  # fmt: skip
            if keypoints:
                corners = [(x, y), (x, y + 24), (x + 24, y + 24), (x + 24, y)]
                ann["keypoints"] = [float(v) for cx, cy in corners for v in (cx, cy, 2)]
                ann["num_keypoints"] = 4
            annotations.append(ann)
    if keypoints:
        names = ["left_tip", "left_base", "right_base", "right_tip"]
        categories = [{"id": 1, "name": "hand", "keypoints": names, "skeleton": [[1, 2], [3, 4]]}]
    else:
        categories = [{"id": 1, "name": "square"}, {"id": 2, "name": "circle"}]
    data = {"images": images, "annotations": annotations, "categories": categories}
    (root / f"{split}.json").write_text(json.dumps(data))


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    for split, n in (("train", 4), ("val", 2)):
        _write_split(tmp_path / "datasets" / "my_shapes", split, n, keypoints=False)
        _write_split(tmp_path / "datasets" / "my_hands", split, n, keypoints=True)
    for name in ("tools", "configs"):
        os.symlink(os.path.join(REPO, name), tmp_path / name)
    monkeypatch.chdir(tmp_path)
    before = set(DatasetCatalog.list())
    yield tmp_path
    for name in set(DatasetCatalog.list()) - before:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def test_guide_runs_as_written(workdir, monkeypatch):
    blocks = guide_blocks()
    ns = {}
    # registration + the count check of each section, exactly as written
    for heading in ("COCO instances json", "Keypoints with K ≠ 17"):
        for code in _python(blocks, heading):
            exec(compile(code, f"{GUIDE}:{heading}", "exec"), ns)
    # the other formats register lazily: their blocks run without data on disk
    for heading in (
        "WIDER FACE `label.txt` (RetinaFace)",
        "MPII json or the official `valid.h5` (Stacked Hourglass)",
        "COCO panoptic (UPSNet)",
    ):
        (code,) = _python(blocks, heading)
        exec(compile(code, f"{GUIDE}:{heading}", "exec"), {})
    registered = set(DatasetCatalog.list())
    assert {"my_faces_train", "my_pose_valid_h5", "my_panoptic_val", "my_hands_val"} <= registered
    assert MetadataCatalog.get("my_faces_val").evaluator_type == "widerface"

    # wrong counts raise, naming the key
    shapes = ["DATASETS.TRAIN", '("my_shapes_train",)', "DATASETS.TEST", '("my_shapes_val",)']
    config = "configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml"
    with pytest.raises(ValueError, match=r"MODEL.ROI_HEADS.NUM_CLASSES=3 .*set .* 2"):
        check_datasets(setup_cfg(config, shapes + ["MODEL.ROI_HEADS.NUM_CLASSES", "3"]))
    hands = ["DATASETS.TRAIN", '("my_hands_train",)', "DATASETS.TEST", '("my_hands_val",)']
    with pytest.raises(ValueError, match=r"MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS=17 .*set .* 4"):
        check_datasets(
            setup_cfg("configs/Mask-RCNN/keypoint_rcnn_R_18_FPN_synth_people.yaml", hands)
        )

    # the training script and the guide's commands: train 2 iterations, then --eval-only
    (script,) = _python(blocks, "The training script")
    (commands,) = [code for lang, code in blocks["The training script"] if lang == "bash"]
    train, evaluate = _commands(commands)
    assert "--eval-only" in evaluate and "--eval-only" not in train
    for argv in (train, evaluate):
        monkeypatch.setattr(sys, "argv", [SCRIPT, *argv, *FAST])
        exec(compile(script, SCRIPT, "exec"), {"__name__": "__main__"})
    out = workdir / "output" / "my_shapes"
    assert (out / "model_final.pth").is_file()
    results = json.loads(
        (out / "inference" / "my_shapes_val" / "coco_instances_results.json").read_text()
    )
    assert {r["category_id"] for r in results} <= {1, 2}  # the json's own category ids
