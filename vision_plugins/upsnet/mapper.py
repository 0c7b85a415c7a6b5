"""UPSNet data: ``PanopticMapper`` (COCO-panoptic dicts -> image, stuff-first semantic map and
thing instances), also the base of VPSNet's video mapper."""

from typing import List

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import BitMasks, Boxes, Instances

from ..data.image_io import read_image
from ..data.issues import count_dropped_instances
from ..data.panoptic import IGNORE_LABEL, read_panoptic_ids

__all__ = ["PanopticMapper"]


class PanopticMapper:
    """COCO-panoptic dict -> model input: ``image``; in training also ``sem_seg`` (long H×W,
    stuff-first semantic labels, 255 = void) and ``instances`` (non-crowd thing segments:
    ``gt_boxes`` tight around the transformed mask, ``gt_classes``, ``gt_masks`` as BitMasks;
    segments emptied by cropping are dropped). Geometry: ``detection_utils.build_augmentation``,
    then ``INPUT.CROP`` when enabled.
    """

    @configurable
    def __init__(self, is_train: bool, *, augmentations, image_format: str, num_stuff: int):
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self.num_stuff = num_stuff

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        augmentations = utils.build_augmentation(cfg, is_train)
        if is_train and cfg.INPUT.CROP.ENABLED:  # after the resize and flip, as VPSNet crops
            augmentations.append(T.RandomCrop(cfg.INPUT.CROP.TYPE, cfg.INPUT.CROP.SIZE))
        return {
            "is_train": is_train,
            "augmentations": augmentations,
            "image_format": cfg.INPUT.FORMAT,
            "num_stuff": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES - cfg.MODEL.ROI_HEADS.NUM_CLASSES,
        }

    def prepare_dataset(self, dicts: List[dict]) -> List[dict]:
        """Training images: the dicts with a panoptic annotation (video datasets also list their
        unannotated frames)."""
        annotated = [d for d in dicts if "pan_seg_file_name" in d]
        return dicts if len(annotated) == len(dicts) else annotated

    def read_image(self, record: dict) -> np.ndarray:
        image = read_image(record["file_name"], format=self.image_format)
        utils.check_image_size(record, image)
        return image

    @staticmethod
    def segment_index(record: dict, shape) -> np.ndarray:
        """float32 map of ``record``'s segment index + 1 (0 = void), from its panoptic PNG; the
        geometric transforms act on it as on a semantic map (float32: exact for < 2^24 segments;
        detectron2 resizes non-uint8 maps with torch, which has no integer nearest resize)."""
        ids = read_panoptic_ids(record["pan_seg_file_name"])
        if ids.shape != tuple(shape):
            raise ValueError(f"panoptic PNG is {ids.shape}, image is {tuple(shape)}")
        index = np.zeros(ids.shape, np.float32)
        for k, seg in enumerate(record["segments_info"]):
            index[ids == seg["id"]] = k + 1
        return index

    def semantic(self, index: np.ndarray, segments: List[dict]) -> torch.Tensor:
        """Stuff-first semantic labels (long H×W, 255 = void) of a transformed segment index."""
        lut = np.full(len(segments) + 1, IGNORE_LABEL, np.int64)
        for k, seg in enumerate(segments):
            lut[k + 1] = seg["category_id"] + (self.num_stuff if seg["isthing"] else 0)
        return torch.as_tensor(lut[index])

    @staticmethod
    def instances(index: np.ndarray, segments: List[dict]) -> Instances:
        """Non-crowd thing segments still present in a transformed segment index:
        ``gt_masks``, ``gt_boxes`` (tight), ``gt_classes``, ``gt_track_ids`` (the segment ids,
        track-consistent in video datasets)."""
        masks, classes, ids = [], [], []
        for k, seg in enumerate(segments):
            if seg["isthing"] and not seg["iscrowd"]:
                mask = index == k + 1
                if mask.any():
                    masks.append(mask)
                    classes.append(seg["category_id"])
                    ids.append(seg["id"])
        instances = Instances(index.shape)
        bitmasks = BitMasks(
            torch.as_tensor(np.stack(masks))
            if masks
            else torch.zeros((0, *index.shape), dtype=torch.bool)
        )
        instances.gt_masks = bitmasks
        instances.gt_boxes = Boxes(bitmasks.get_bounding_boxes().tensor)
        instances.gt_classes = torch.as_tensor(classes, dtype=torch.int64)
        instances.gt_track_ids = torch.as_tensor(ids, dtype=torch.int64)
        return instances

    def map_test(self, record: dict, image: np.ndarray):
        """Test input: the augmented ``image`` into ``record``; returns the transforms."""
        aug = T.AugInput(image)
        transforms = self.augmentations(aug)
        record["image"] = torch.as_tensor(np.ascontiguousarray(aug.image.transpose(2, 0, 1)))
        record.pop("segments_info", None)
        return transforms

    def map_train(self, record: dict, image: np.ndarray):
        """Training input: augmented ``image``, ``sem_seg`` and ``instances`` into ``record``;
        returns the transforms (video mappers apply them to the reference frame)."""
        aug = T.AugInput(image, sem_seg=self.segment_index(record, image.shape[:2]))
        transforms = self.augmentations(aug)
        index = aug.sem_seg.astype(np.int64)
        segments = record.pop("segments_info")
        record.pop("pan_seg_file_name")
        record["image"] = torch.as_tensor(np.ascontiguousarray(aug.image.transpose(2, 0, 1)))
        record["sem_seg"] = self.semantic(index, segments)
        record["instances"] = self.instances(index, segments)
        things = sum(1 for s in segments if s["isthing"] and not s["iscrowd"])
        count_dropped_instances(record, things)  # thing segments emptied by the crop
        return transforms

    def __call__(self, dataset_dict: dict) -> dict:
        record = dict(dataset_dict)
        image = self.read_image(record)
        if self.is_train:
            self.map_train(record, image)
        else:
            self.map_test(record, image)
        return record
