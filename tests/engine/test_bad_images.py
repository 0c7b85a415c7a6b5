"""Bad training data (issue #22 items 3 and 10): instances with an empty segmentation are
dropped with a counted warning naming the image and annotation by every mask-using mapper;
``DATALOADER.SKIP_UNREADABLE_IMAGES`` skips unreadable images with a counted warning; instances
dropped as empty after the augmentation are counted in the log."""

import copy
import logging
import math

import pytest
from detectron2.data import DatasetCatalog

from tests.engine.test_bad_inputs import _register
from vision_plugins.data import DataLoadError, build_mapper
from vision_plugins.data.issues import EMPTY_INSTANCES, EMPTY_SEGMENTATIONS, SKIPPED_IMAGES
from vision_plugins.engine import Trainer, setup_cfg

MASK_RCNN = "configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml"
YOLACT = "configs/YOLACT/yolact_R_18_FPN_synth_shapes.yaml"
LOGGER = "vision_plugins.data"


def _train_cfg(config, dataset, tmp_path, *opts):
    return setup_cfg(
        config,
        ["DATASETS.TRAIN", f"('{dataset}',)", "DATASETS.TEST", "()",
         "DATALOADER.NUM_WORKERS", "0", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.MAX_ITER", "2",
         "OUTPUT_DIR", str(tmp_path), *opts],
    )  # fmt: skip


def _with_empty_segmentation():
    """Two images; the first one's second annotation (id 7002) has ``"segmentation": []``."""
    dicts = copy.deepcopy(DatasetCatalog.get("vp_shapes_train")[:2])
    for d in dicts:
        for k, a in enumerate(d["annotations"]):
            a["id"] = 1000 * (d["image_id"] + 7) + k
    dicts[0]["annotations"][1]["segmentation"] = []
    return dicts


@pytest.mark.parametrize("config", [MASK_RCNN, YOLACT])
def test_empty_segmentation_is_dropped_with_a_counted_warning(tmp_path, caplog, config):
    dicts = _with_empty_segmentation()
    bad = dicts[0]
    ann_id = bad["annotations"][1]["id"]
    _register("vp_test_empty_segm", dicts)
    cfg = _train_cfg(config, "vp_test_empty_segm", tmp_path)
    EMPTY_SEGMENTATIONS.reset()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        out = build_mapper(cfg, is_train=True)(copy.deepcopy(bad))
    inst = out["instances"]
    assert len(inst) == len(bad["annotations"]) - 1
    assert inst.has("gt_masks")
    masks = inst.gt_masks
    areas = masks.area() if hasattr(masks, "area") else masks.tensor.flatten(1).sum(1)
    assert (areas > 0).all()  # no all-zero mask target
    assert EMPTY_SEGMENTATIONS.total == 1
    assert any(
        bad["file_name"] in r.getMessage() and f"id={ann_id}" in r.getMessage()
        for r in caplog.records
    ), caplog.text

    # and training on the dataset runs, counting it
    EMPTY_SEGMENTATIONS.reset()
    trainer = Trainer(cfg)
    trainer.train()
    assert math.isfinite(trainer.storage.latest()["total_loss"][0])
    assert EMPTY_SEGMENTATIONS.total >= 1


def test_missing_segmentation_of_the_first_annotation_keeps_gt_masks():
    """detectron2 reads the masks only when the first annotation has a ``segmentation``: the
    whole image lost ``gt_masks`` (Mask R-CNN then failed with ``Cannot find field
    'gt_masks'``, not naming the image)."""
    d = _with_empty_segmentation()[1]
    del d["annotations"][0]["segmentation"]
    EMPTY_SEGMENTATIONS.reset()
    out = build_mapper(setup_cfg(MASK_RCNN), is_train=True)(d)
    assert out["instances"].has("gt_masks")
    assert len(out["instances"]) == len(d["annotations"]) - 1
    assert EMPTY_SEGMENTATIONS.total == 1


def test_degenerate_box_is_dropped_and_counted(caplog):
    d = copy.deepcopy(DatasetCatalog.get("vp_shapes_train")[0])
    x, y = d["annotations"][0]["bbox"][:2]
    d["annotations"][0]["bbox"] = [x, y, 0.0, 0.0]  # XYWH of zero size
    cfg = setup_cfg(MASK_RCNN)
    EMPTY_INSTANCES.reset()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        out = build_mapper(cfg, is_train=True)(d)
    assert len(out["instances"]) == len(d["annotations"]) - 1
    assert EMPTY_INSTANCES.total == 1
    assert d["file_name"] in caplog.text


def _with_unreadable(tmp_path):
    good = copy.deepcopy(DatasetCatalog.get("vp_shapes_train")[0])
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(open(good["file_name"], "rb").read()[:200])
    return good, dict(copy.deepcopy(good), file_name=str(truncated), image_id=99)


def test_skip_unreadable_images_in_training(tmp_path, caplog):
    good, bad = _with_unreadable(tmp_path)
    _register("vp_test_unreadable", [good, bad])
    cfg = _train_cfg(
        MASK_RCNN, "vp_test_unreadable", tmp_path, "DATALOADER.SKIP_UNREADABLE_IMAGES", "True"
    )
    SKIPPED_IMAGES.reset()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert build_mapper(cfg, is_train=True)(copy.deepcopy(bad)) is None
    assert SKIPPED_IMAGES.total == 1 and "truncated.png" in caplog.text

    # the training loader draws another image instead; every epoch (a permutation of both
    # images) meets the bad one once
    SKIPPED_IMAGES.reset()
    trainer = Trainer(cfg)
    trainer.train()
    assert math.isfinite(trainer.storage.latest()["total_loss"][0])
    assert SKIPPED_IMAGES.total >= 1

    # default: the run stops, naming the file; evaluation never skips
    cfg.defrost()
    cfg.DATALOADER.SKIP_UNREADABLE_IMAGES = False
    with pytest.raises(DataLoadError, match="truncated.png"):
        build_mapper(cfg, is_train=True)(copy.deepcopy(bad))
    cfg.DATALOADER.SKIP_UNREADABLE_IMAGES = True
    with pytest.raises(DataLoadError, match="truncated.png"):
        build_mapper(cfg, is_train=False)(copy.deepcopy(bad))
