"""``PanopticSemSegEvaluator``: detectron2's ``SemSegEvaluator`` (mIoU, fwIoU, mACC, pACC) on the
stuff-first semantic output of a panoptic model, with the ground truth derived from the
COCO-panoptic PNGs (``vision_plugins.data.panoptic``): no separate semantic PNGs needed."""

import logging

import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import SemSegEvaluator

from ..data.panoptic import IGNORE_LABEL, read_panoptic_ids, semantic_from_panoptic

__all__ = ["PanopticSemSegEvaluator"]


class PanopticSemSegEvaluator(SemSegEvaluator):
    """Semantic classes = ``metadata.stuff_classes`` (stuff, then things); void = 255.

    Only the ground-truth source differs from ``SemSegEvaluator``: ``process`` / ``evaluate`` are
    detectron2's (its constructor requires ``sem_seg_file_name`` in every dataset dict, so the
    attributes it sets are set here instead).
    """

    def __init__(self, dataset_name, distributed=True, output_dir=None):
        meta = MetadataCatalog.get(dataset_name)
        dicts = DatasetCatalog.get(dataset_name)
        for key in ("num_stuff", "stuff_dataset_id_to_contiguous_id"):
            if key not in meta.as_dict():
                raise KeyError(
                    f"dataset {dataset_name!r} has no metadata {key!r}: register it with "
                    "vision_plugins.data.register_panoptic_dataset"
                )
        self._logger = logging.getLogger(__name__)
        self._dataset_name = dataset_name
        self._distributed = distributed
        self._output_dir = output_dir
        self._cpu_device = torch.device("cpu")
        num_stuff = meta.num_stuff
        self._segments = {
            d["file_name"]: (d["pan_seg_file_name"], d["segments_info"]) for d in dicts
        }
        self.input_file_to_gt_file = {name: name for name in self._segments}
        to_dataset = {v: k for k, v in meta.stuff_dataset_id_to_contiguous_id.items()}
        to_dataset.update(
            {v + num_stuff: k for k, v in meta.thing_dataset_id_to_contiguous_id.items()}
        )
        self._contiguous_id_to_dataset_id = to_dataset
        self._class_names = meta.stuff_classes
        self._num_classes = len(meta.stuff_classes)
        self._ignore_label = IGNORE_LABEL
        self._compute_boundary_iou = True
        self._num_stuff = num_stuff

    def sem_seg_loading_fn(self, file_name, dtype=int):
        pan_file, segments = self._segments[file_name]
        ids = read_panoptic_ids(pan_file)
        return semantic_from_panoptic(ids, segments, self._num_stuff).astype(dtype)
