"""``DensePoseUVROIHeads``: detectron2's ``StandardROIHeads`` plus the DensePose branch.

Training: the foreground proposals whose IoU with their GT box is > ``FG_IOU_THRESHOLD`` and
whose GT has DensePose annotations are pooled (``POOLER_RESOLUTION``) from ``IN_FEATURES``, run
through :class:`DensePoseUVHead` and :class:`DensePoseUVPredictor`, and scored by
:func:`densepose_uv_losses`. Inference: the same branch on the predicted boxes gives
``pred_densepose`` (:class:`DensePoseUVOutput`).
"""

from typing import Dict, List

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.modeling.poolers import ROIPooler
from detectron2.structures import Instances, pairwise_iou

from .heads import DensePoseUVHead, DensePoseUVOutput, DensePoseUVPredictor
from .losses import densepose_uv_losses

__all__ = ["DensePoseUVROIHeads"]


@ROI_HEADS_REGISTRY.register()
class DensePoseUVROIHeads(StandardROIHeads):
    @configurable
    def __init__(
        self,
        *,
        densepose_in_features: List[str],
        densepose_pooler: ROIPooler,
        densepose_head: DensePoseUVHead,
        densepose_predictor: DensePoseUVPredictor,
        fg_iou_threshold: float = 0.7,
        loss_weights=(2.0, 0.3, 0.1),
        **kwargs,
    ):
        """``loss_weights``: (coarse segmentation, fine part, U/V) weights."""
        super().__init__(**kwargs)
        self.densepose_in_features = densepose_in_features
        self.densepose_pooler = densepose_pooler
        self.densepose_head = densepose_head
        self.densepose_predictor = densepose_predictor
        self.fg_iou_threshold = fg_iou_threshold
        self.loss_weights = loss_weights

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        ret = super().from_config(cfg, input_shape)
        d = cfg.MODEL.DENSEPOSE_UV
        missing = [f for f in d.IN_FEATURES if f not in input_shape]
        if missing:
            raise ValueError(
                f"MODEL.DENSEPOSE_UV.IN_FEATURES {list(d.IN_FEATURES)}: {missing} not produced by "
                f"the backbone ({sorted(input_shape)})"
            )
        if d.NUM_COARSE_SEGM_CHANNELS < 2:
            raise ValueError("MODEL.DENSEPOSE_UV.NUM_COARSE_SEGM_CHANNELS counts background: >= 2")
        channels = {input_shape[f].channels for f in d.IN_FEATURES}
        ret.update(
            densepose_in_features=list(d.IN_FEATURES),
            densepose_pooler=ROIPooler(
                output_size=d.POOLER_RESOLUTION,
                scales=tuple(1.0 / input_shape[f].stride for f in d.IN_FEATURES),
                sampling_ratio=d.POOLER_SAMPLING_RATIO,
                pooler_type=d.POOLER_TYPE,
            ),
            densepose_head=DensePoseUVHead(
                channels.pop(), d.NUM_STACKED_CONVS, d.CONV_HEAD_DIM, d.CONV_HEAD_KERNEL
            ),
            densepose_predictor=DensePoseUVPredictor(
                d.CONV_HEAD_DIM,
                d.NUM_PATCHES,
                d.NUM_COARSE_SEGM_CHANNELS,
                d.DECONV_KERNEL,
                d.UP_SCALE,
            ),
            fg_iou_threshold=d.FG_IOU_THRESHOLD,
            loss_weights=(d.INDEX_WEIGHTS, d.PART_WEIGHTS, d.POINT_REGRESSION_WEIGHTS),
        )
        return ret

    def _densepose_outputs(self, features, boxes) -> DensePoseUVOutput:
        x = self.densepose_pooler([features[f] for f in self.densepose_in_features], boxes)
        return self.densepose_predictor(self.densepose_head(x))

    def select_densepose_proposals(self, proposals: List[Instances]) -> List[Instances]:
        """Foreground proposals with IoU > threshold to their GT box, which has DensePose data."""
        out = []
        for p in proposals:
            if not p.has("gt_densepose") or len(p) == 0:
                out.append(p[:0])
                continue
            iou = pairwise_iou(p.proposal_boxes, p.gt_boxes).diagonal()
            has = torch.as_tensor([t is not None for t in p.gt_densepose], device=iou.device)
            keep = (p.gt_classes >= 0) & (p.gt_classes < self.num_classes)
            keep &= (iou > self.fg_iou_threshold) & has
            out.append(p[keep])
        return out

    def _forward_densepose(self, features, instances: List[Instances]):
        features = {f: features[f] for f in self.densepose_in_features}
        if self.training:
            selected = self.select_densepose_proposals(instances)
            boxes = [p.proposal_boxes for p in selected]
            outputs = self._densepose_outputs(features, boxes)
            return densepose_uv_losses(outputs, selected, *self.loss_weights)
        outputs = self._densepose_outputs(features, [x.pred_boxes for x in instances])
        start = 0
        for inst in instances:
            inst.pred_densepose = outputs[start : start + len(inst)]
            if not self.mask_on:  # body masks for segm AP: P(foreground) of the coarse segm
                fg = 1 - inst.pred_densepose.coarse_segm.softmax(dim=1)[:, :1]
                inst.pred_masks = fg
            start += len(inst)
        return instances

    def forward(self, images, features, proposals, targets=None):
        if not self.training:
            return super().forward(images, features, proposals, targets)
        if targets is not None and targets and not targets[0].has("gt_densepose"):
            raise KeyError(
                "DensePoseUVROIHeads training needs instances.gt_densepose: use "
                "INPUT.DATASET_MAPPER_NAME DensePoseUVMapper on a DensePose-COCO dataset"
            )
        proposals = self.label_and_sample_proposals(proposals, targets)
        del targets
        losses = self._forward_box(features, proposals)
        losses.update(self._forward_mask(features, proposals))
        losses.update(self._forward_keypoint(features, proposals))
        losses.update(self._forward_densepose(features, proposals))
        return proposals, losses

    def forward_with_given_boxes(self, features, instances):
        instances = super().forward_with_given_boxes(features, instances)
        return self._forward_densepose(features, instances)
