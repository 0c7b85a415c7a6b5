"""vp_panoptic and the COCO-panoptic loader / mapper: file consistency, semantic labels, errors."""

import json

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from pycocotools.coco import COCO

from vision_plugins.data import build_mapper
from vision_plugins.data.panoptic import (
    load_panoptic_json,
    read_panoptic_ids,
    register_panoptic_dataset,
    semantic_from_panoptic,
)
from vision_plugins.data.synthetic import ensure_generated
from vision_plugins.engine.defaults import setup_cfg


@pytest.fixture(scope="module")
def split():
    """A 12-image split: (instances json, image root, split dir)."""
    json_file, image_root = ensure_generated("vp_panoptic_val", num_images=12)
    return json_file, image_root, json_file.rsplit("/", 1)[0]


def test_panoptic_png_json_and_instances_agree(split):
    instances_json, image_root, root = split
    pan = json.load(open(f"{root}/panoptic.json"))
    cats = {c["id"]: c for c in pan["categories"]}
    assert {c["id"] for c in cats.values() if c["isthing"]} == {1, 3, 7}
    assert {c["id"] for c in cats.values() if not c["isthing"]} == {21, 22, 25}
    assert all("color" in c for c in cats.values())
    coco = COCO(instances_json)
    crowds = voids = 0
    for ann in pan["annotations"]:
        ids = read_panoptic_ids(f"{root}/panoptic/{ann['file_name']}")
        segs = {s["id"]: s for s in ann["segments_info"]}
        assert set(np.unique(ids)) - {0} == set(segs)
        assert any(s > 255 for s in segs)  # multi-byte ids
        voids += int((ids == 0).any())
        things = []
        for s in segs.values():
            mask = ids == s["id"]
            ys, xs = np.nonzero(mask)
            assert s["area"] == mask.sum()
            assert s["bbox"] == [xs.min(), ys.min(), np.ptp(xs) + 1, np.ptp(ys) + 1]
            if cats[s["category_id"]]["isthing"]:
                things.append((s["category_id"], s["iscrowd"], mask))
            crowds += s["iscrowd"]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[ann["image_id"]]))
        assert len(anns) == len(things)
        for a, (cat, crowd, mask) in zip(anns, things):
            assert (a["category_id"], a["iscrowd"]) == (cat, crowd)
            assert np.array_equal(coco.annToMask(a).astype(bool), mask)
    assert crowds >= 1 and voids >= 5


def test_loader_contiguous_ids_and_semantic_labels(split):
    _, image_root, root = split
    dicts = load_panoptic_json(f"{root}/panoptic.json", image_root, f"{root}/panoptic")
    d = dicts[0]
    assert d["file_name"].endswith("000000.png") and d["height"] == d["width"] == 128
    ids = read_panoptic_ids(d["pan_seg_file_name"])
    sem = semantic_from_panoptic(ids, d["segments_info"], num_stuff=3)
    for s in d["segments_info"]:
        expected = s["category_id"] + (3 if s["isthing"] else 0)
        assert (sem[ids == s["id"]] == expected).all()
        assert 0 <= s["category_id"] < 3
    assert (sem[ids == 0] == 255).all()


def test_loader_errors_name_the_file(tmp_path, split):
    _, image_root, root = split
    pan = json.load(open(f"{root}/panoptic.json"))
    pan["annotations"][0]["segments_info"][0]["category_id"] = 99
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(pan))
    with pytest.raises(ValueError, match="bad.json.*category_id 99"):
        load_panoptic_json(str(bad), image_root, root)
    with pytest.raises(ValueError, match="missing.json"):
        load_panoptic_json(str(tmp_path / "missing.json"), image_root, root)


def test_register_panoptic_dataset_sets_metadata(split):
    instances_json, image_root, root = split
    name = "vp_test_panoptic_registered"
    register_panoptic_dataset(
        name, image_root, f"{root}/panoptic", f"{root}/panoptic.json", instances_json
    )
    try:
        assert len(DatasetCatalog.get(name)) == 12
        meta = MetadataCatalog.get(name)
        assert meta.stuff_classes == ["sky", "grass", "road", "circle", "square", "triangle"]
        assert meta.thing_dataset_id_to_contiguous_id == {1: 0, 3: 1, 7: 2}
        assert meta.stuff_dataset_id_to_contiguous_id == {21: 0, 22: 1, 25: 2}
        assert meta.json_file == instances_json and meta.evaluator_type == "coco_panoptic_seg"
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


@pytest.mark.parametrize("flip", ["none", "horizontal"])
def test_mapper_targets(flip):
    cfg = setup_cfg(
        "configs/UPSNet/upsnet_R_18_FPN_synth_panoptic.yaml",
        ["INPUT.RANDOM_FLIP", flip, "INPUT.MIN_SIZE_TRAIN", "(128,)"],
    )
    d = DatasetCatalog.get("vp_panoptic_train")[3]  # has a crowd region
    mapper = build_mapper(cfg, is_train=True)
    ids = read_panoptic_ids(d["pan_seg_file_name"])
    sem = torch.as_tensor(semantic_from_panoptic(ids, d["segments_info"], 3).astype(np.int64))
    things = [s for s in d["segments_info"] if s["isthing"] and not s["iscrowd"]]
    assert any(s["iscrowd"] for s in d["segments_info"])
    out = mapper(d)
    flipped = not torch.equal(out["sem_seg"], sem)
    if flip == "none":
        assert not flipped
    if flipped:
        sem = sem.flip(-1)
    assert torch.equal(out["sem_seg"], sem)
    inst = out["instances"]
    assert inst.gt_classes.tolist() == [s["category_id"] for s in things]
    for mask, box, s in zip(inst.gt_masks.tensor, inst.gt_boxes.tensor, things):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert mask.sum() == s["area"]
        assert (out["sem_seg"][mask] == s["category_id"] + 3).all()
    test = build_mapper(cfg, is_train=False)(d)
    assert set(test) >= {"image", "height", "width"} and "sem_seg" not in test
