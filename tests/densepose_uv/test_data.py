"""DensePose data: vp_densepose annotations, loader, flip symmetries, mapper alignment."""

import json

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog

from vision_plugins.data import build_mapper
from vision_plugins.data.densepose import (
    DensePoseTransformData,
    DensePoseUVTarget,
    load_densepose_coco_json,
)
from vision_plugins.data.synthetic import ensure_generated
from vision_plugins.data.synthetic.densepose import chart_to_template
from vision_plugins.engine.defaults import setup_cfg

CONFIG = "configs/DensePose/densepose_rcnn_R_18_FPN_synth_densepose.yaml"


@pytest.fixture(scope="module")
def dicts():
    return DatasetCatalog.get("vp_densepose_train")


@pytest.fixture(scope="module")
def symmetry():
    ensure_generated("vp_densepose_train")
    return DensePoseTransformData.load(
        MetadataCatalog.get("vp_densepose_train").densepose_transform_src
    )


def test_annotations_follow_the_known_chart(dicts):
    annotated = unannotated = 0
    for d in dicts[:40]:
        for a in d["annotations"]:
            assert a["category_id"] == 0  # dataset id 1 -> contiguous 0
            if "dp_x" not in a:
                unannotated += 1
                continue
            annotated += 1
            x0, y0, w, h = a["bbox"]
            px = x0 + np.asarray(a["dp_x"]) / 256 * w
            py = y0 + np.asarray(a["dp_y"]) / 256 * h
            assert ((px >= x0) & (px <= x0 + w) & (py >= y0) & (py <= y0 + h)).all()
            i = np.asarray(a["dp_I"], int)
            assert set(i) <= {1, 2, 3, 4}
            # left parts (1, 3) lie left of right parts (2, 4) of the same row
            for left, right in ((1, 2), (3, 4)):
                if (i == left).any() and (i == right).any():
                    assert px[i == left].max() < px[i == right].min() + 1e-6
            assert len(a["dp_masks"]) == 2
    assert annotated > 30 and unannotated > 0


def test_loader_rejects_inconsistent_points(tmp_path):
    json_file, image_root = ensure_generated("vp_densepose_val", num_images=4)
    data = json.load(open(json_file))
    ann = next(a for a in data["annotations"] if "dp_x" in a)
    ann["dp_U"] = ann["dp_U"][:-1]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=f"bad.json: annotation {ann['id']}"):
        load_densepose_coco_json(str(bad), image_root)


def test_symmetry_file_is_local_only(tmp_path):
    with pytest.raises(ValueError, match="local path"):
        DensePoseTransformData.load("https://dl.fbaipublicfiles.com/densepose/x.mat")
    with pytest.raises(FileNotFoundError, match="nope.mat"):
        DensePoseTransformData.load(str(tmp_path / "nope.mat"))


def _target(dicts):
    a = next(a for d in dicts for a in d["annotations"] if "dp_x" in a)
    return DensePoseUVTarget.from_annotation(a)


def test_flip_twice_is_identity(dicts, symmetry):
    t = _target(dicts)
    once = t.hflip(symmetry)
    twice = once.hflip(symmetry)
    assert torch.equal(twice.i, t.i) and torch.equal(twice.segm, t.segm)
    assert torch.allclose(twice.x, t.x, atol=1e-4)  # 256 - (256 - x) in float32
    # U, V go through 256-entry tables: identity up to their quantisation
    assert torch.allclose(twice.u, t.u, atol=1 / 255) and torch.allclose(twice.v, t.v, atol=1 / 255)
    # once: parts swap left <-> right, U mirrors, V stays, points mirror in the box
    assert torch.equal(once.i, torch.as_tensor([0, 2, 1, 4, 3])[t.i])
    assert torch.allclose(once.u, 1 - t.u, atol=1 / 255) and torch.allclose(
        once.v, t.v, atol=1 / 255
    )
    assert torch.equal(once.x, 256 - t.x) and torch.equal(once.segm, t.segm.flip(1))


def test_flip_keeps_the_chart_position_consistent(dicts, symmetry):
    """A flipped point must sit where the chart of the mirrored body puts it: template x of the
    flipped label = sheet width - template x of the original."""
    t = _target(dicts)
    f = t.hflip(symmetry)
    x_orig, y_orig = chart_to_template(t.i.numpy(), t.u.numpy(), t.v.numpy())
    x_flip, y_flip = chart_to_template(f.i.numpy(), f.u.numpy(), f.v.numpy())
    assert np.allclose(x_flip, 0.5 - x_orig, atol=0.5 / 255) and np.allclose(
        y_flip, y_orig, atol=1e-2
    )


@pytest.mark.parametrize("flip", ["none", "horizontal"])
def test_mapper_aligns_densepose_with_instances(dicts, symmetry, flip):
    cfg = setup_cfg(CONFIG, ["INPUT.RANDOM_FLIP", flip])
    mapper = build_mapper(cfg, is_train=True)
    d = next(d for d in dicts if len(d["annotations"]) >= 2)
    out = mapper(d)
    inst = out["instances"]
    assert len(inst.gt_densepose) == len(inst) == len(d["annotations"])
    for target, ann in zip(inst.gt_densepose, d["annotations"]):
        expected = DensePoseUVTarget.from_annotation(ann)
        if expected is None:
            assert target is None
            continue
        flipped = not torch.equal(target.x, expected.x)
        if flip == "none":
            assert not flipped
        if flipped:
            expected = expected.hflip(symmetry)
        assert torch.equal(target.i, expected.i) and torch.equal(target.x, expected.x)
    assert build_mapper(cfg, is_train=False)(d).keys() >= {"image", "height", "width"}
