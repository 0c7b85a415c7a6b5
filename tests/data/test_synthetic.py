"""Synthetic datasets: COCO validity, annotation geometry, registration, determinism, caching."""

import dataclasses
import filecmp
import os

import cv2
import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_coco_json
from pycocotools import mask as mask_util
from pycocotools.coco import COCO

from vision_plugins.data.synthetic import (
    SYNTHETIC_DATASETS,
    dataset_root,
    ensure_generated,
    register_all_synthetic,
    registered_synthetic_names,
    split_paths,
)

SMALL = {"vp_shapes_train": 40, "vp_shapes_val": 20, "vp_people_train": 40, "vp_people_val": 20}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A temporary ``$VP_DATASETS`` with the catalogs registered under it (restored after)."""
    path = tmp_path_factory.mktemp("vp_datasets")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VP_DATASETS", str(path))
        register_all_synthetic()
        yield path
    register_all_synthetic()


@pytest.fixture(scope="module")
def small(root):
    """name -> (COCO, image_root) of test-sized splits."""
    out = {}
    for name, n in SMALL.items():
        json_file, image_root = ensure_generated(name, num_images=n)
        out[name] = COCO(json_file), image_root
    return out


def _tight_box(mask):
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]


def test_registered_names(root):
    names = registered_synthetic_names()
    assert names == sorted(names) == sorted(SYNTHETIC_DATASETS)
    for name in SMALL:
        assert name in names and name in DatasetCatalog.list()
        meta = MetadataCatalog.get(name)
        assert (meta.json_file, meta.image_root) == split_paths(name)
        assert meta.json_file.startswith(str(root)) and meta.evaluator_type == "coco"
    register_all_synthetic()  # idempotent
    register_all_synthetic()


def test_dataset_root(monkeypatch, tmp_path):
    monkeypatch.setenv("VP_DATASETS", str(tmp_path))
    assert dataset_root() == str(tmp_path)
    monkeypatch.delenv("VP_DATASETS")
    assert dataset_root() == os.path.expanduser("~/.cache/vision_plugins/datasets")


def test_split_paths_layout(root):
    assert split_paths("vp_shapes_train") == (
        str(root / "vp_shapes_v1" / "train" / "annotations.json"),
        str(root / "vp_shapes_v1" / "train" / "images"),
    )
    with pytest.raises(KeyError):
        split_paths("coco_2017_train")


@pytest.mark.parametrize("name", sorted(SMALL))
def test_valid_coco(small, name):
    coco, image_root = small[name]
    assert len(coco.getImgIds()) == SMALL[name]
    assert any(not coco.getAnnIds(imgIds=[i]) for i in coco.getImgIds()), "no empty image"
    for img in coco.loadImgs(coco.getImgIds()):
        image = cv2.imread(os.path.join(image_root, img["file_name"]))
        assert image.shape == (img["height"], img["width"], 3)
    anns = coco.loadAnns(coco.getAnnIds())
    assert len({a["id"] for a in anns}) == len(anns) > 0
    for ann in anns:
        mask = coco.annToMask(ann)
        assert mask.sum() == ann["area"] >= 20
        if ann["iscrowd"]:
            assert isinstance(ann["segmentation"]["counts"], str)
            continue
        assert all(len(p) >= 6 and len(p) % 2 == 0 for p in ann["segmentation"])
        np.testing.assert_allclose(ann["bbox"], _tight_box(mask), atol=1)


def test_shapes_categories_and_crowd(small):
    coco, _ = small["vp_shapes_train"]
    assert sorted(coco.getCatIds()) == [1, 3, 7]
    assert [c["name"] for c in coco.loadCats([1, 3, 7])] == ["circle", "square", "triangle"]
    crowd = [a for a in coco.dataset["annotations"] if a["iscrowd"]]
    assert crowd and all(a["iscrowd"] == 1 for a in crowd)
    for ann in crowd:
        rle = ann["segmentation"]
        assert set(rle) == {"size", "counts"} and rle["size"] == [128, 128]
        mask = mask_util.decode({"size": rle["size"], "counts": rle["counts"].encode()})
        assert mask.sum() == ann["area"]
        np.testing.assert_allclose(ann["bbox"], _tight_box(mask))


@pytest.mark.parametrize("name", ["vp_people_train", "vp_people_val"])
def test_people_keypoints(small, name):
    coco, _ = small[name]
    (cat,) = coco.loadCats(coco.getCatIds())
    assert (cat["id"], cat["name"], len(cat["keypoints"])) == (1, "person", 17)
    assert len(cat["skeleton"]) == 19 and all(1 <= k <= 17 for p in cat["skeleton"] for k in p)
    visibility = []
    for ann in coco.loadAnns(coco.getAnnIds()):
        kp = np.array(ann["keypoints"]).reshape(17, 3)
        visibility += kp[:, 2].tolist()
        assert ann["num_keypoints"] == (kp[:, 2] > 0).sum()
        assert (kp[kp[:, 2] == 0] == 0).all()
        img = coco.loadImgs(ann["image_id"])[0]
        labelled = kp[kp[:, 2] > 0]
        assert (labelled[:, 0] < img["width"]).all() and (labelled[:, 1] < img["height"]).all()
        near_mask = cv2.dilate(coco.annToMask(ann), np.ones((5, 5), np.uint8))
        for x, y, _ in kp[kp[:, 2] == 2]:
            assert near_mask[y, x], f"visible keypoint ({x}, {y}) off the person in {ann}"
    counts = np.bincount(visibility, minlength=3)
    assert counts.min() > 0 and counts[2] > 0.7 * counts.sum()  # outside, occluded, visible


def test_people_metadata():
    meta = MetadataCatalog.get("vp_people_train")
    names = meta.keypoint_names
    assert len(names) == 17 == len(set(names)) and names[0] == "nose"
    flipped = [n for pair in meta.keypoint_flip_map for n in pair]
    assert len(flipped) == 16 == len(set(flipped)) and set(flipped) <= set(names)
    for a, b in meta.keypoint_flip_map:
        assert a.replace("left", "right") == b
    for a, b, color in meta.keypoint_connection_rules:
        assert {a, b} <= set(names) and len(color) == 3
    assert meta.thing_classes == ["person"]


def test_people_load_coco_json(small):
    json_file, image_root = split_paths("vp_people_val", num_images=SMALL["vp_people_val"])
    dicts = load_coco_json(json_file, image_root, "vp_people_val")
    anns = [a for d in dicts for a in d["annotations"]]
    assert anns and all(a["category_id"] == 0 and len(a["keypoints"]) == 51 for a in anns)


def test_catalog_contiguous_ids(root):
    dicts = DatasetCatalog.get("vp_shapes_train")  # generates the full-size split
    assert len(dicts) == 300
    assert {a["category_id"] for d in dicts for a in d["annotations"]} == {0, 1, 2}
    assert MetadataCatalog.get("vp_shapes_train").thing_dataset_id_to_contiguous_id == {
        1: 0,
        3: 1,
        7: 2,
    }
    assert os.path.isfile(dicts[0]["file_name"]) and dicts[0]["file_name"].startswith(str(root))


@pytest.mark.parametrize("name", ["vp_shapes_train", "vp_people_train"])
def test_deterministic(tmp_path, name):
    a, b = (ensure_generated(name, num_images=12, root=str(tmp_path / r)) for r in "ab")
    assert filecmp.cmp(a[0], b[0], shallow=False)
    files = sorted(os.listdir(a[1]))
    assert len(files) == 12
    match, mismatch, errors = filecmp.cmpfiles(a[1], b[1], files, shallow=False)
    assert (mismatch, errors) == ([], [])


def test_cached_second_call(root):
    first = ensure_generated("vp_shapes_val", num_images=SMALL["vp_shapes_val"])
    mtimes = [os.stat(p).st_mtime_ns for p in first]
    assert ensure_generated("vp_shapes_val", num_images=SMALL["vp_shapes_val"]) == first
    assert [os.stat(p).st_mtime_ns for p in first] == mtimes


def test_lost_race(monkeypatch, tmp_path):
    """Another process finishing first while we generate: ours is discarded, theirs kept."""
    name = "vp_shapes_val"
    spec = SYNTHETIC_DATASETS[name]
    calls = []

    def generate(out_dir, num_images, seed):
        calls.append(out_dir)
        spec.generate(out_dir, num_images, seed)
        if len(calls) == 1:  # the "other process" wins while we are still busy
            ensure_generated(name, num_images=5, root=str(tmp_path))

    monkeypatch.setitem(SYNTHETIC_DATASETS, name, dataclasses.replace(spec, generate=generate))
    json_file, image_root = ensure_generated(name, num_images=5, root=str(tmp_path))
    assert len(calls) == 2
    assert os.path.isfile(json_file) and len(os.listdir(image_root)) == 5
    parent = os.path.dirname(os.path.dirname(json_file))
    assert os.listdir(parent) == ["val_n5"]  # no temporary directories left behind
