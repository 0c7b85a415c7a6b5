"""DensePose R-CNN data: ``DensePoseUVMapper``, detectron2's ``DatasetMapper`` plus the
instances' DensePose ground truth (flipped with the dataset's symmetry file)."""

import copy
from typing import Optional

from detectron2.config import configurable
from detectron2.data import MetadataCatalog
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T

from ..data.densepose import DensePoseList, DensePoseTransformData, DensePoseUVTarget
from ..data.issues import count_dropped_instances, drop_empty_segmentations
from ..data.mappers import DatasetMapper

__all__ = ["DensePoseUVMapper"]


class DensePoseUVMapper(DatasetMapper):
    """The project's ``DatasetMapper`` plus ``instances.gt_densepose`` (a :class:`DensePoseList`
    aligned with the instances, flipped with the dataset's symmetry file). Only flips and
    resizes are allowed (DensePose points are box-relative). As in ``DatasetMapper``, with
    instance masks an instance without a usable segmentation is dropped with a counted warning,
    and the instances ``filter_empty_instances`` drops are counted."""

    @configurable
    def __init__(self, is_train: bool, *, transform_src: Optional[str] = None, **kwargs):
        """``transform_src``: local path of the symmetry file, read on the first flip."""
        super().__init__(is_train, **kwargs)
        self.transform_src = transform_src
        self._transform_data = None
        for aug in self.augmentations.augs:
            if not isinstance(aug, (T.ResizeShortestEdge, T.RandomFlip, T.Resize)):
                raise ValueError(f"DensePoseUVMapper: unsupported augmentation {aug}")

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        ret = super().from_config(cfg, is_train)
        ret["transform_src"] = None
        if is_train and cfg.INPUT.RANDOM_FLIP == "horizontal":
            sources = {
                MetadataCatalog.get(n).get("densepose_transform_src") for n in cfg.DATASETS.TRAIN
            }
            if None in sources or len(sources) != 1:
                raise ValueError(
                    f"horizontal flip of DensePose data needs one 'densepose_transform_src' "
                    f"(local UV_symmetry_transforms.mat) in the metadata of {cfg.DATASETS.TRAIN}; "
                    f"found {sorted(map(str, sources))}"
                )
            ret["transform_src"] = sources.pop()
        return ret

    @property
    def transform_data(self) -> Optional[DensePoseTransformData]:
        if self._transform_data is None and self.transform_src is not None:
            self._transform_data = DensePoseTransformData.load(self.transform_src)
        return self._transform_data

    def _transform_annotations(self, dataset_dict, transforms, image_shape):
        if self.use_instance_mask:
            drop_empty_segmentations(dataset_dict)
        annos = [a for a in dataset_dict.pop("annotations") if a.get("iscrowd", 0) == 0]
        for a in annos:
            if not self.use_instance_mask:
                a.pop("segmentation", None)
            if not self.use_keypoint:
                a.pop("keypoints", None)
        flips = sum(isinstance(t, T.HFlipTransform) for t in transforms.transforms) % 2 == 1
        if flips and self.transform_data is None and any(a.get("dp_x") for a in annos):
            raise ValueError("a flipped DensePose sample needs the dataset's symmetry file")
        targets = []
        for a in annos:
            target = DensePoseUVTarget.from_annotation(a)
            targets.append(target.hflip(self.transform_data) if target and flips else target)
        annos = [
            utils.transform_instance_annotations(copy.deepcopy(a), transforms, image_shape)
            for a in annos
        ]
        instances = utils.annotations_to_instances(annos, image_shape, self.instance_mask_format)
        instances.gt_densepose = DensePoseList(targets)
        dataset_dict["instances"] = utils.filter_empty_instances(instances)
        count_dropped_instances(dataset_dict, len(annos))
