"""Class / keypoint counts checked for every architecture (and for datasets registered with
detectron2's ``register_coco_instances``), and the validation-loss hook leaving the model as it
found it and working on video sets."""

import glob
import json
import os
import types

import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from vision_plugins.engine import ValidationLossHook, check_datasets, setup_cfg

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(name):
    (path,) = glob.glob(os.path.join(REPO, "configs", "*", name))
    return path


@pytest.mark.parametrize(
    "config, key, value, field",
    [
        ("cornernet_hg_small_synth_shapes.yaml", "MODEL.CORNERNET.NUM_CLASSES", 7, "thing_classes"),
        ("centernet_triplet_hg_small_synth_shapes.yaml", "MODEL.CORNERNET.NUM_CLASSES", 7,
         "thing_classes"),
        ("centernet_oap_res18_synth_shapes.yaml", "MODEL.CENTERNET_OAP.NUM_CLASSES", 4,
         "thing_classes"),
        ("yolact_R_18_FPN_synth_shapes.yaml", "MODEL.YOLACT.NUM_CLASSES", 2, "thing_classes"),
        ("keypoint_rcnn_R_18_FPN_synth_people.yaml", "MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS", 16,
         "keypoint_names"),
        ("shg_2stack_synth_pose_mpii.yaml", "MODEL.POSE_HOURGLASS.OUP_DIM", 17, "keypoint_names"),
        ("regression_2stack_synth_pose_mpii.yaml", "MODEL.POSE_HOURGLASS.OUP_DIM", 17,
         "keypoint_names"),
        ("densepose_rcnn_R_18_FPN_synth_densepose.yaml", "MODEL.ROI_HEADS.NUM_CLASSES", 2,
         "thing_classes"),
        ("upsnet_R_18_FPN_synth_panoptic.yaml", "MODEL.ROI_HEADS.NUM_CLASSES", 2, "thing_classes"),
        ("vpsnet_R_18_FPN_synth_video_fuse.yaml", "MODEL.SEM_SEG_HEAD.NUM_CLASSES", 5,
         "stuff_classes"),
    ],
)  # fmt: skip
def test_wrong_count_names_key_value_and_dataset(config, key, value, field):
    cfg = setup_cfg(_config(config))
    check_datasets(cfg)  # the shipped config is consistent
    cfg = setup_cfg(_config(config), [key, str(value)])
    dataset = cfg.DATASETS.TRAIN[0]
    with pytest.raises(
        ValueError, match=rf"{key}={value} but the training set '{dataset}'.*{field}"
    ):
        check_datasets(cfg)


def _coco_json(path, categories, keypoints=None):
    cats = [{"id": 10 + i, "name": n, "supercategory": "x"} for i, n in enumerate(categories)]
    if keypoints:
        cats[0]["keypoints"] = keypoints
    data = {"images": [], "annotations": [], "categories": cats}
    path.write_text(json.dumps(data))
    return str(path)


def test_register_coco_instances_counts_read_lazily_from_the_json(tmp_path):
    name = "vp_test_user_coco_counts"
    if name in DatasetCatalog:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    json_file = _coco_json(tmp_path / "a.json", ["cat", "dog"])
    register_coco_instances(name, {}, json_file, str(tmp_path))
    assert MetadataCatalog.get(name).get("thing_classes") is None  # not loaded yet
    config = "configs/Mask-RCNN/mask_rcnn_R_18_FPN_synth_shapes.yaml"
    cfg = setup_cfg(config, ["DATASETS.TRAIN", f"('{name}',)", "MODEL.ROI_HEADS.NUM_CLASSES", "3"])
    with pytest.raises(ValueError, match=rf"NUM_CLASSES=3 but the training set '{name}' has 2"):
        check_datasets(cfg)
    check_datasets(
        setup_cfg(config, ["DATASETS.TRAIN", f"('{name}',)", "MODEL.ROI_HEADS.NUM_CLASSES", "2"])
    )


def test_register_coco_instances_keypoints_read_from_the_json(tmp_path):
    name = "vp_test_user_coco_keypoints"
    if name in DatasetCatalog:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    json_file = _coco_json(tmp_path / "k.json", ["person"], keypoints=["a", "b", "c", "d"])
    register_coco_instances(name, {}, json_file, str(tmp_path))
    config = "configs/Mask-RCNN/keypoint_rcnn_R_18_FPN_synth_people.yaml"
    cfg = setup_cfg(config, ["DATASETS.TRAIN", f"('{name}',)"])
    with pytest.raises(ValueError, match=r"NUM_KEYPOINTS=17 .* has 4 keypoint_names"):
        check_datasets(cfg)


def _hook(cfg, model):
    hook = ValidationLossHook(cfg, 1, cfg.DATASETS.TEST, 2)
    hook.trainer = types.SimpleNamespace(model=model, iter=0, max_iter=1, storage=EventStorage())
    return hook


def test_validation_loss_leaves_weights_and_batchnorm_statistics_unchanged():
    cfg = setup_cfg(
        "configs/RetinaFace/retinaface_mnet025_synth_faces.yaml",
        ["MODEL.DEVICE", "cpu", "DATALOADER.NUM_WORKERS", "0"],
    )
    torch.manual_seed(0)
    model = build_model(cfg)
    model.train()
    assert any(isinstance(m, torch.nn.BatchNorm2d) and m.training for m in model.modules())
    model.backbone.eval()  # a module's own mode must survive the hook
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hook = _hook(cfg, model)
    with hook.trainer.storage:
        hook._do()
    assert hook.trainer.storage.latest()["val/total_loss"][0] > 0
    after = model.state_dict()
    assert before.keys() == after.keys()
    for k in before:
        assert torch.equal(before[k], after[k]), k
    assert model.training and not model.backbone.training
    # the check can fail: a training-mode forward does move the BatchNorm statistics
    batch = next(iter(hook._loaders[cfg.DATASETS.TEST[0]]))
    with torch.no_grad(), EventStorage():
        model.train()(batch)
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    "config",
    ["vpsnet_R_18_FPN_synth_video_fuse.yaml", "yolact_edge_R_18_FPN_synth_video_joint.yaml"],
)
def test_validation_loss_on_video_sets(config):
    """The video mappers' training samples (frames paired with references) are prepared for the
    validation sets too."""
    cfg = setup_cfg(_config(config), ["MODEL.DEVICE", "cpu", "DATALOADER.NUM_WORKERS", "0"])
    torch.manual_seed(0)
    hook = _hook(cfg, build_model(cfg).train())
    with hook.trainer.storage:
        hook._do()
    values = hook.trainer.storage.latest()
    name = cfg.DATASETS.TEST[0]
    assert values[f"val/{name}/total_loss"][0] > 0 and values["val/total_loss"][0] > 0
