"""vp_pose_mpii_hard: deterministic, MPII format, truncation / occlusion flags, variety, loading
through the registered loader; vp_pose_mpii unchanged by the shared drawing code."""

import filecmp
import hashlib
import json
import os

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from vision_plugins.data.mpii import MPII_KEYPOINT_NAMES, load_mpii_json
from vision_plugins.data.synthetic import ensure_generated, register_all_synthetic
from vision_plugins.data.synthetic.pose_mpii_hard import SIZE

J = {n: i for i, n in enumerate(MPII_KEYPOINT_NAMES)}
N = 48


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("vp"))
    json_file, image_root = ensure_generated("vp_pose_mpii_hard_train", num_images=N, root=root)
    with open(json_file) as f:
        entries = json.load(f)
    return json_file, image_root, entries


def test_deterministic(small, tmp_path):
    json_file, image_root, _ = small
    json2, images2 = ensure_generated("vp_pose_mpii_hard_train", num_images=N, root=str(tmp_path))
    assert filecmp.cmp(json_file, json2, shallow=False)
    names = sorted(os.listdir(image_root))
    assert len(names) == N and names == sorted(os.listdir(images2))
    assert all(
        filecmp.cmp(os.path.join(image_root, n), os.path.join(images2, n), shallow=False)
        for n in names
    )


def test_val_differs_from_train(small, tmp_path):
    json_val, _ = ensure_generated("vp_pose_mpii_hard_val", num_images=N, root=str(tmp_path))
    assert not filecmp.cmp(small[0], json_val, shallow=False)


def test_mpii_json_format(small):
    _, _, entries = small
    keys = {"image", "joints", "joints_vis", "is_visible", "center", "scale", "head_box"}
    for e in entries:
        assert keys | {"height", "width"} == set(e)
        assert len(e["joints"]) == len(e["joints_vis"]) == len(e["is_visible"]) == 16
        assert (e["height"], e["width"]) == (SIZE, SIZE)
        # the annotated crop is the image (centre ± 4 px, 200·scale·1.25 ≈ 160 px)
        assert np.allclose(e["center"], SIZE / 2, atol=4)
        assert 0.95 * SIZE <= 200 * 1.25 * e["scale"] <= 1.05 * SIZE
        x1, y1, x2, y2 = e["head_box"]
        assert x2 > x1 and y2 > y1 and 0 <= (x1 + x2) / 2 < SIZE and 0 <= (y1 + y2) / 2 < SIZE
        assert sum(e["joints_vis"]) >= 8


def test_truncated_joints_are_unannotated(small):
    _, _, entries = small
    joints = np.array([e["joints"] for e in entries])  # (N, 16, 2)
    annotated = np.array([e["joints_vis"] for e in entries], bool)
    inside = ((joints >= 0) & (joints < SIZE)).all(-1)
    assert (annotated == inside).all()  # outside the image <=> not annotated
    assert (joints[~annotated] == -1).all()
    assert 0.02 < 1 - annotated.mean() < 0.3  # truncation happens, but most joints are in


def test_occluded_joints_stay_annotated_with_is_visible_0(small):
    json_file, image_root, entries = small
    annotated = np.array([e["joints_vis"] for e in entries], bool)
    visible = np.array([e["is_visible"] for e in entries], bool)
    assert not (visible & ~annotated).any()  # a joint outside the image is not "visible"
    occluded = annotated & ~visible
    assert 0.03 < occluded.sum() / annotated.sum() < 0.4
    # the loader: v = 2 visible, 1 occluded (still annotated, counted by PCKh), 0 absent
    dicts = load_mpii_json(json_file, image_root)
    v = np.array([np.reshape(d["annotations"][0]["keypoints"], (16, 3))[:, 2] for d in dicts])
    assert ((v == 2) == visible).all() and ((v == 1) == occluded).all()
    assert ((v == 0) == ~annotated).all()


def test_variety_scale_rotation_articulation(small):
    _, _, entries = small
    heads = np.array([e["head_box"] for e in entries])
    head_h = heads[:, 3] - heads[:, 1]  # head height ∝ figure height (0.17 h, rotation aside)
    assert head_h.max() / head_h.min() > 1.8  # scale spread 0.6-1.4
    torso = []
    for e in entries:
        j, a = np.array(e["joints"]), np.array(e["joints_vis"], bool)
        if a[J["pelvis"]] and a[J["thorax"]]:
            d = j[J["thorax"]] - j[J["pelvis"]]
            torso.append(np.degrees(np.arctan2(d[0], -d[1])))
    assert max(torso) > 20 and min(torso) < -20  # in-plane rotation ±40°
    raised = [  # a wrist above its shoulder (the easy set's arms reach 140° at most)
        e for e in entries for s in ("left", "right")
        if e["joints_vis"][J[f"{s}_wrist"]] and e["joints_vis"][J[f"{s}_shoulder"]]
        and e["joints"][J[f"{s}_wrist"]][1] < e["joints"][J[f"{s}_shoulder"]][1] - 10
    ]  # fmt: skip
    assert len(raised) >= 3


def test_loads_through_the_registered_loader(tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VP_DATASETS", str(tmp_path))
        register_all_synthetic()
        try:
            meta = MetadataCatalog.get("vp_pose_mpii_hard_val")
            assert meta.evaluator_type == "pckh" and len(meta.keypoint_names) == 16
            assert meta.keypoint_flip_map and meta.json_file.startswith(str(tmp_path))
            dicts = DatasetCatalog.get("vp_pose_mpii_hard_val")
            assert len(dicts) == 200 and os.path.isfile(dicts[0]["file_name"])
            ann = dicts[0]["annotations"][0]
            assert len(ann["keypoints"]) == 48 and len(ann["head_box"]) == 4
        finally:
            mp.undo()
            register_all_synthetic()


def test_is_visible_in_the_loader(tmp_path):
    entry = {
        "image": "a.png",
        "joints": [[10.0, 10.0]] * 16,
        "joints_vis": [1] * 15 + [0],
        "is_visible": [1, 0] + [1] * 14,
        "center": [50, 50],
        "scale": 0.5,
        "head_box": [0, 0, 10, 10],
        "height": 100,
        "width": 100,
    }
    path = tmp_path / "a.json"
    path.write_text(json.dumps([entry]))
    (d,) = load_mpii_json(str(path), str(tmp_path))
    v = d["annotations"][0]["keypoints"][2::3]
    assert v[:2] == [2.0, 1.0] and v[2:15] == [2.0] * 13 and v[15] == 0.0
    path.write_text(json.dumps([{**entry, "is_visible": [1] * 3}]))
    with pytest.raises(ValueError, match="is_visible"):
        load_mpii_json(str(path), str(tmp_path))


def test_vp_pose_mpii_annotations_unchanged(tmp_path):
    """The easy set's drawing code is shared with vp_pose_mpii_hard; its files must not move."""
    json_file, _ = ensure_generated("vp_pose_mpii_train", num_images=60, root=str(tmp_path))
    with open(json_file, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert digest == EASY_SHA256, digest


EASY_SHA256 = "b815c967d724ecd7d8fad57effbc89db0c9cfdeb7b61dc15145f3886b481a025"  # at 6db4dd1
