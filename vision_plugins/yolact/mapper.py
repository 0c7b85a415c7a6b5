"""YOLACT data: the official fixed-size input (``FixedSizeResize`` to MAX_SIZE²) for training,
testing and ``Predictor``, the official SSD-style training augmentation (``augment.py``), and a
mapper that keeps crowd boxes for the matcher."""

import copy

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import BoxMode

from ..data import FixedSizeResize
from ..data.issues import drop_empty_segmentations
from ..data.mappers import DatasetMapper
from .augment import BoxAugInput, SSDCropTransform, build_ssd_augmentation, discard_small_boxes

__all__ = ["YolactDatasetMapper", "build_yolact_test_augmentation"]


def build_yolact_test_augmentation(cfg):
    """The official test input (YOLACT and YolactEdge): the image resized to MAX_SIZE²."""
    return [FixedSizeResize(cfg.MODEL.YOLACT.MAX_SIZE)]


class YolactDatasetMapper(DatasetMapper):
    """The project's ``DatasetMapper`` (detectron2's; instances with an empty segmentation are
    dropped with a counted warning) with YOLACT's input. Test = resize to MAX_SIZE². Training,
    by INPUT.YOLACT.AUGMENT:

    - ``"flip"``: random flip (INPUT.RANDOM_FLIP) + resize to MAX_SIZE²;
    - ``"ssd"``: the official ``SSDAugmentation`` (``augment.build_ssd_augmentation``:
      photometric distortion, zoom-out, SSD random crop, mirror, resize). The crop drops the
      instances (crowds too) whose box centre falls outside it; after the resize, instances and
      crowd boxes not wider and taller than INPUT.YOLACT.DISCARD_BOX_SIZE are dropped, and an
      image whose annotations all went returns None (detectron2's ``MapDataset`` then maps
      another image, as the official loader resamples); so does an image without annotations
      (the official loader never trains on one; ``DATALOADER.FILTER_EMPTY_ANNOTATIONS False``
      keeps them in the dataset).

    Instance masks are always loaded. Crowd annotations, which ``DatasetMapper`` drops, are kept
    as ``dataset_dict["crowd_boxes"]`` (Gc, 4) XYXY in network-input pixels: the matcher makes
    anchors covered by a crowd neutral."""

    @configurable
    def __init__(self, is_train, *, ssd=False, discard_box_size=0.0, **kwargs):
        super().__init__(is_train, **kwargs)
        self.ssd, self.discard_box_size = ssd, discard_box_size

    @classmethod
    def from_config(cls, cfg, is_train=True):
        ret = super().from_config(cfg, is_train)
        augment = cfg.INPUT.YOLACT.AUGMENT
        if augment not in ("flip", "ssd"):
            raise ValueError(f"INPUT.YOLACT.AUGMENT={augment!r}: expected 'flip' or 'ssd'")
        if is_train and augment == "ssd":
            ret.update(
                augmentations=build_ssd_augmentation(cfg),
                use_instance_mask=True,
                recompute_boxes=False,
                ssd=True,
                discard_box_size=cfg.INPUT.YOLACT.DISCARD_BOX_SIZE,
            )
            return ret
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

    def __call__(self, dataset_dict):
        if not (self.is_train and self.ssd):
            return super().__call__(dataset_dict)
        dataset_dict = copy.deepcopy(dataset_dict)
        drop_empty_segmentations(dataset_dict)
        annos = dataset_dict.get("annotations", [])
        if not annos:  # the official loader trains only on images with annotations
            return None
        image = utils.read_image(dataset_dict["file_name"], format=self.image_format)
        utils.check_image_size(dataset_dict, image)
        boxes = [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in annos]
        aug_input = BoxAugInput(image, boxes=boxes, is_crowd=[a.get("iscrowd", 0) for a in annos])
        transforms = self.augmentations(aug_input)
        image = aug_input.image
        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        dataset_dict.pop("sem_seg_file_name", None)
        for t in transforms.transforms:
            if isinstance(t, SSDCropTransform):
                annos = [a for a, k in zip(annos, t.keep) if k]
        dataset_dict["annotations"] = annos
        self._transform_annotations(dataset_dict, transforms, image.shape[:2])
        size = self.discard_box_size
        crowd = dataset_dict["crowd_boxes"]
        dataset_dict["crowd_boxes"] = crowd[torch.as_tensor(discard_small_boxes(crowd, size))]
        inst = dataset_dict["instances"]
        if inst.has("gt_boxes"):
            keep = discard_small_boxes(inst.gt_boxes.tensor.numpy(), size)
            dataset_dict["instances"] = inst[torch.as_tensor(keep)]
        if len(dataset_dict["instances"]) + len(dataset_dict["crowd_boxes"]) == 0:
            return None  # the official loader resamples an image left without annotations
        return dataset_dict

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
