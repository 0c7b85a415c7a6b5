"""User mistakes give errors naming the file/dataset; an image without annotations trains."""

import copy
import math

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from vision_plugins.data import DataLoadError, build_mapper
from vision_plugins.engine import Trainer, check_datasets, setup_cfg

CONFIG = "configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml"


def _register(name, dicts, like="vp_shapes_train"):
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, lambda: copy.deepcopy(dicts))
    meta = MetadataCatalog.get(like)
    MetadataCatalog.get(name).set(thing_classes=meta.thing_classes, evaluator_type="coco")


def _one_dict(**changes):
    d = copy.deepcopy(DatasetCatalog.get("vp_shapes_train")[0])
    d.update(changes)
    return d


@pytest.mark.parametrize("is_train", [True, False])
def test_missing_image_names_the_file(tmp_path, is_train):
    cfg = setup_cfg(CONFIG)
    missing = str(tmp_path / "nowhere" / "img_001.png")
    with pytest.raises(DataLoadError, match="nowhere/img_001.png"):
        build_mapper(cfg, is_train)(_one_dict(file_name=missing))


def test_corrupt_image_names_the_file(tmp_path):
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    cfg = setup_cfg(CONFIG)
    with pytest.raises(DataLoadError, match="corrupt.png"):
        build_mapper(cfg, True)(_one_dict(file_name=str(bad)))


def test_corrupt_image_in_training_loader_names_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"")
    _register("vp_test_broken", [_one_dict(file_name=str(bad))])
    cfg = setup_cfg(
        CONFIG,
        ["DATASETS.TRAIN", "('vp_test_broken',)", "DATASETS.TEST", "()",
         "DATALOADER.NUM_WORKERS", "0", "SOLVER.IMS_PER_BATCH", "1"],
    )  # fmt: skip
    loader = Trainer.build_train_loader(cfg)
    with pytest.raises(DataLoadError, match="broken.png"):
        next(iter(loader))


def test_unknown_dataset_lists_registered_vp_names():
    cfg = setup_cfg(CONFIG, ["DATASETS.TRAIN", "('coco_typo_train',)"])
    with pytest.raises(KeyError) as e:
        check_datasets(cfg)
    msg = str(e.value)
    assert "coco_typo_train" in msg and "vp_shapes_train" in msg and "vp_people_val" in msg


def test_num_classes_mismatch_is_explained():
    cfg = setup_cfg(CONFIG, ["MODEL.ROI_HEADS.NUM_CLASSES", "5"])
    with pytest.raises(ValueError, match="MODEL.ROI_HEADS.NUM_CLASSES=5.*3 thing_classes"):
        check_datasets(cfg)


def test_images_without_annotations_train(tmp_path):
    dicts = [dict(d, annotations=[]) for d in DatasetCatalog.get("vp_shapes_train")[:4]]
    _register("vp_test_empty", dicts)
    cfg = setup_cfg(
        CONFIG,
        ["DATASETS.TRAIN", "('vp_test_empty',)", "DATASETS.TEST", "()",
         "DATALOADER.NUM_WORKERS", "0", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.MAX_ITER", "2",
         "OUTPUT_DIR", str(tmp_path)],
    )  # fmt: skip
    trainer = Trainer(cfg)
    trainer.train()
    losses = trainer.storage.latest()
    assert math.isfinite(losses["total_loss"][0])
    assert losses["loss_mask"][0] == 0.0  # no instance: no mask loss
