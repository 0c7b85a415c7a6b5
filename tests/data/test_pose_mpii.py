"""vp_pose_mpii: MPII-format samples that load, make anatomical sense and are deterministic."""

import filecmp
import json
import os

import numpy as np
import pytest
from detectron2.data import MetadataCatalog

from vision_plugins.data.mpii import MPII_KEYPOINT_NAMES, load_mpii_json
from vision_plugins.data.synthetic import ensure_generated

J = {n: i for i, n in enumerate(MPII_KEYPOINT_NAMES)}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("vp"))
    return root, ensure_generated("vp_pose_mpii_train", num_images=40, root=root)


def test_loads_with_the_mpii_loader(small):
    _, (json_file, image_root) = small
    dicts = load_mpii_json(json_file, image_root)
    assert len(dicts) == 40
    for d in dicts:
        assert os.path.isfile(d["file_name"]) and (d["height"], d["width"]) == (160, 160)
        ann = d["annotations"][0]
        kps = np.reshape(ann["keypoints"], (16, 3))
        vis = kps[:, 2] > 0
        assert vis.sum() >= 8
        assert ((kps[vis, :2] >= 0) & (kps[vis, :2] < 160)).all()
        x1, y1, x2, y2 = ann["head_box"]
        top, top_visible = kps[J["head_top"], :2], kps[J["head_top"], 2] > 0
        if top_visible:  # the head top is the top centre of the head box
            assert x1 - 1 <= top[0] <= x2 + 1 and y1 - 1 <= top[1] <= y1 + 1
        assert 0.6 * np.hypot(x2 - x1, y2 - y1) > 3  # a usable PCKh normaliser
        # front-facing figures: the person's left is on the image right
        assert kps[J["left_shoulder"], 0] > kps[J["right_shoulder"], 0]
        # the person box (200·scale around the centre) contains every visible joint
        bx1, by1, bx2, by2 = np.array(ann["bbox"]) + [-1e-6, -1e-6, 1e-6, 1e-6]
        assert ((kps[vis, 0] >= bx1) & (kps[vis, 0] <= bx2)).all()
        assert ((kps[vis, 1] >= by1) & (kps[vis, 1] <= by2)).all()


def test_some_joints_are_outside_and_unannotated(small):
    _, (json_file, _) = small
    with open(json_file) as f:
        entries = json.load(f)
    missing = [(e["joints"][j], e["joints_vis"][j]) for e in entries for j in range(16)]
    assert any(v == 0 for _, v in missing)
    assert all(p == [-1.0, -1.0] for p, v in missing if v == 0)


def test_deterministic(small, tmp_path):
    root, (json_file, image_root) = small
    json2, images2 = ensure_generated("vp_pose_mpii_train", num_images=40, root=str(tmp_path))
    assert filecmp.cmp(json_file, json2, shallow=False)
    names = sorted(os.listdir(image_root))
    assert names == sorted(os.listdir(images2))
    assert all(
        filecmp.cmp(os.path.join(image_root, n), os.path.join(images2, n), shallow=False)
        for n in names
    )


def test_registered_with_pckh_metadata():
    meta = MetadataCatalog.get("vp_pose_mpii_val")
    assert meta.evaluator_type == "pckh"
    assert meta.keypoint_names == list(MPII_KEYPOINT_NAMES)
