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


# --- the official Stacked Hourglass annotations (princeton-vl/pytorch_stacked_hourglass h5) ---

VALID_H5 = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "real", "mpii",
                        "valid.h5")  # fmt: skip
needs_h5 = pytest.mark.skipif(not os.path.isfile(VALID_H5), reason=f"{VALID_H5} absent")


@pytest.fixture(scope="module")
def h5_dicts():
    pytest.importorskip("h5py")
    from vision_plugins.data.mpii import load_mpii_h5

    return load_mpii_h5(VALID_H5, "/images", image_sizes=False)


@needs_h5
def test_h5_records_are_raw_mpii_values(h5_dicts):
    assert len(h5_dicts) == 2958
    d = h5_dicts[0]
    ann = d["annotations"][0]
    assert d["file_name"] == "/images/005808361.jpg" and d["image_id"] == 0
    # the pinned person (projects/StackedHourglass/README.md): raw centre (966, 340), scale
    # 4.718488; the h5 stores centre (966, 410.7773184), scale 5.89810987 (× 1.25, y + 15 s)
    np.testing.assert_allclose(ann["center"], [966, 340], atol=1e-9)
    assert ann["scale"] == pytest.approx(4.718488, abs=1e-6)
    np.testing.assert_allclose(ann["h5_center"], [966, 410.7773184], atol=1e-7)
    assert ann["h5_scale"] == pytest.approx(5.89810987, abs=1e-8)
    half = 100 * ann["scale"]
    np.testing.assert_allclose(ann["bbox"], [966 - half, 340 - half, 966 + half, 340 + half])
    assert ann["head_size"] == pytest.approx(117.96219733456985)
    kps = np.reshape(ann["keypoints"], (16, 3))
    assert kps[J["head_top"]].tolist() == [962.0, 80.0, 2.0]
    # v: 0 where the h5 has x = 0 (not in the picture), 1 annotated but occluded, 2 visible
    v = np.array([np.reshape(x["annotations"][0]["keypoints"], (16, 3))[:, 2] for x in h5_dicts])
    assert {int(k): int(n) for k, n in zip(*np.unique(v, return_counts=True))} == {
        0: 3089,
        1: 10243,
        2: 33996,
    }
    assert MPII_KEYPOINT_NAMES[9] == "head_top"


@needs_h5
def test_h5_record_crops_like_the_raw_record_and_the_official_square(h5_dicts, tmp_path):
    import cv2

    from vision_plugins.data.mpii import SHG_CENTER_SHIFT, SHG_SCALE_PADDING
    from vision_plugins.engine import setup_cfg
    from vision_plugins.pose_hourglass.mapper import TopDownPoseMapper

    cfg = setup_cfg(None, [])
    aug = cfg.INPUT.POSE_HOURGLASS
    assert (aug.SCALE_PADDING, aug.CENTER_SHIFT) == (SHG_SCALE_PADDING, SHG_CENTER_SHIFT)
    mapper = TopDownPoseMapper(cfg, is_train=False)
    path = str(tmp_path / "005808361.jpg")
    rng = np.random.default_rng(0)
    cv2.imwrite(path, rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8))
    base = {"file_name": path, "image_id": 0, "height": 720, "width": 1280}
    h5_ann = dict(h5_dicts[0]["annotations"][0])
    raw_ann = dict(h5_ann, center=[966.0, 340.0], scale=5.898109866728492 / 1.25)
    out_h5 = mapper(dict(base, annotations=[h5_ann]))
    out_raw = mapper(dict(base, annotations=[raw_ann]))
    np.testing.assert_allclose(out_h5["crop_box"], out_raw["crop_box"], atol=1e-9)
    assert (out_h5["image"] == out_raw["image"]).all()
    # the official crop: the 200 · h5 scale square around the h5 centre
    (cx, cy), s = h5_ann["h5_center"], h5_ann["h5_scale"]
    np.testing.assert_allclose(out_h5["crop_box"],
                               [cx - 100 * s, cy - 100 * s, cx + 100 * s, cy + 100 * s],
                               atol=1e-9)  # fmt: skip
    for d in h5_dicts[::97]:  # every record: the mapper's square is the h5 square
        a = d["annotations"][0]
        (cx, cy), s = a["center"], a["scale"]
        cy += SHG_CENTER_SHIFT * s
        side = 200 * s * SHG_SCALE_PADDING
        np.testing.assert_allclose([cx, cy, side], [*a["h5_center"], 200 * a["h5_scale"]],
                                   rtol=0, atol=1e-9)  # fmt: skip


@needs_h5
def test_register_mpii_h5_metadata(h5_dicts):
    from detectron2.data import DatasetCatalog

    from vision_plugins.data.mpii import MPII_KEYPOINT_FLIP_MAP, register_mpii_h5

    name = "vp_test_pose_mpii_h5"
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    register_mpii_h5(name, VALID_H5, "/images", image_sizes=False)
    meta = MetadataCatalog.get(name)
    assert meta.evaluator_type == "pckh" and meta.pckh_protocol == "shg"
    assert meta.keypoint_names == list(MPII_KEYPOINT_NAMES)
    assert meta.keypoint_flip_map == list(MPII_KEYPOINT_FLIP_MAP)
    assert len(DatasetCatalog.get(name)) == 2958


def test_h5_missing_dataset_is_a_clear_error(tmp_path):
    h5py = pytest.importorskip("h5py")
    from vision_plugins.data.mpii import load_mpii_h5

    path = str(tmp_path / "bad.h5")
    with h5py.File(path, "w") as f:
        f["center"] = np.zeros((1, 2))
    with pytest.raises(KeyError, match=r"bad.h5: missing dataset\(s\) \['imgname'"):
        load_mpii_h5(path, str(tmp_path))


def test_h5_image_sizes_are_read_from_the_images(tmp_path):
    h5py = pytest.importorskip("h5py")
    import cv2

    from vision_plugins.data.mpii import load_mpii_h5

    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((30, 40, 3), np.uint8))
    path = str(tmp_path / "one.h5")
    part = np.zeros((1, 16, 2))
    part[0, 3] = (10, 12)
    with h5py.File(path, "w") as f:
        f["imgname"] = np.array([b"a.jpg"])
        f["part"], f["visible"] = part, np.ones((1, 16))
        f["center"], f["scale"], f["normalize"] = [[20.0, 30.0]], [1.25], [5.0]
    (d,) = load_mpii_h5(path, str(tmp_path))
    assert (d["height"], d["width"]) == (30, 40)
    ann = d["annotations"][0]
    assert ann["scale"] == 1.0 and ann["center"] == [20.0, 15.0]  # 30 - 15 · 1.0
    kps = np.reshape(ann["keypoints"], (16, 3))
    assert kps[3].tolist() == [10.0, 12.0, 2.0] and (kps[np.arange(16) != 3, 2] == 0).all()
