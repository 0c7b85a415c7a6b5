"""YOLACT data: the official fixed-size input (``FixedSizeResize`` to MAX_SIZE²) for training,
testing and ``Predictor``, and a mapper that keeps crowd boxes for the matcher."""

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T

from ..data import FixedSizeResize
from ..data.mappers import DatasetMapper

__all__ = ["YolactDatasetMapper", "build_yolact_test_augmentation"]


def build_yolact_test_augmentation(cfg):
    """The official test input (YOLACT and YolactEdge): the image resized to MAX_SIZE²."""
    return [FixedSizeResize(cfg.MODEL.YOLACT.MAX_SIZE)]


class YolactDatasetMapper(DatasetMapper):
    """The project's ``DatasetMapper`` (detectron2's; instances with an empty segmentation are
    dropped with a counted warning) with YOLACT's input: training = random horizontal flip
    (INPUT.RANDOM_FLIP) + resize to MAX_SIZE², test = resize to MAX_SIZE². Instance masks are
    always loaded. Crowd annotations, which ``DatasetMapper`` drops, are kept as
    ``dataset_dict["crowd_boxes"]`` (Gc, 4) XYXY in network-input pixels: the matcher makes
    anchors covered by a crowd neutral.

    The official SSD-style training augmentation (photometric distortion, zoom-out, random
    crop) is not reproduced; add detectron2 augmentations through a subclass if needed."""

    @configurable
    def __init__(self, is_train, **kwargs):
        super().__init__(is_train, **kwargs)

    @classmethod
    def from_config(cls, cfg, is_train=True):
        ret = super().from_config(cfg, is_train)
        augs = [FixedSizeResize(cfg.MODEL.YOLACT.MAX_SIZE)]
        if is_train and cfg.INPUT.RANDOM_FLIP != "none":
            augs.insert(
                0,
                T.RandomFlip(
                    horizontal=cfg.INPUT.RANDOM_FLIP == "horizontal",
                    vertical=cfg.INPUT.RANDOM_FLIP == "vertical",
                ),
            )
        ret.update(augmentations=augs, use_instance_mask=True, recompute_boxes=False)
        return ret

    def _transform_annotations(self, dataset_dict, transforms, image_shape):
        crowd = [
            utils.transform_instance_annotations(
                {"bbox": obj["bbox"], "bbox_mode": obj["bbox_mode"]}, transforms, image_shape
            )["bbox"]
            for obj in dataset_dict["annotations"]
            if obj.get("iscrowd", 0)
        ]
        dataset_dict["crowd_boxes"] = torch.as_tensor(np.asarray(crowd, np.float32)).reshape(-1, 4)
        super()._transform_annotations(dataset_dict, transforms, image_shape)
