"""``UPSNet``: Mask R-CNN + UPSNet semantic head + parameter-free panoptic head.

Training losses: detectron2's RPN and ROI-head losses, ``loss_sem_seg`` (pixel cross-entropy ×
w_fcn), ``loss_sem_roi`` (RoI semantic loss, when its weight is > 0) and ``loss_panoptic``
(× w_pan): the panoptic head on the **GT** boxes and classes (crowd excluded) at the stride of
the semantic logits (1/4), a random ``BOX_KEEP_FRACTION`` of the instances kept, against
:func:`mask_matching` targets.

Inference: detectron2's detections (``instances``, for box / mask AP), ``sem_seg`` (C×H×W,
stuff first) and ``panoptic_seg`` from the panoptic head (or, with ``TEST.COMBINE
"heuristic"``, detectron2's heuristic on the same heads).

Subclasses (VPSNet) build on :meth:`training_targets`, :meth:`detector_losses`,
:meth:`segmentation_losses`, :meth:`inference_on_features`, :meth:`panoptic_inference` and
:meth:`panoptic_output`.
"""

from typing import Dict, List

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN, build_sem_seg_head
from detectron2.modeling.postprocessing import detector_postprocess, sem_seg_postprocess
from detectron2.structures import Boxes, ImageList, Instances
from torchvision.ops import nms

from .panoptic_head import (
    VOID,
    heuristic_panoptic,
    mask_matching,
    mask_removal,
    panoptic_logits,
    panoptic_segments,
    paste_mask_logits,
    vote_relabel,
)

__all__ = ["UPSNet"]


@META_ARCH_REGISTRY.register()
class UPSNet(GeneralizedRCNN):
    @configurable
    def __init__(
        self,
        *,
        sem_seg_head: torch.nn.Module,
        num_stuff: int,
        panoptic_loss_weight: float = 0.1,
        box_keep_fraction: float = 0.7,
        combine: str = "panoptic_head",
        score_thresh: float = 0.6,
        nms_thresh: float = 0.5,
        max_det: int = 100,
        removal_overlap: float = 0.3,
        vote_thresh: float = 0.5,
        stuff_area_limit: int = 4096,
        heuristic_overlap: float = 0.5,
        heuristic_stuff_area: int = 4096,
        heuristic_score_thresh: float = 0.5,
        **kwargs,
    ):
        """``num_stuff``: stuff classes, the first channels of the semantic head; the other
        arguments are the ``MODEL.UPSNET`` keys (``heuristic_*``: ``MODEL.PANOPTIC_FPN.COMBINE``).
        """
        super().__init__(**kwargs)
        if combine not in ("panoptic_head", "heuristic"):
            raise ValueError(
                f"MODEL.UPSNET.TEST.COMBINE={combine!r}: expected 'panoptic_head' or 'heuristic'"
            )
        if not 0 < box_keep_fraction <= 1:
            raise ValueError(f"MODEL.UPSNET.BOX_KEEP_FRACTION={box_keep_fraction}: need (0, 1]")
        self.sem_seg_head = sem_seg_head
        self.num_stuff = num_stuff
        self.panoptic_loss_weight = panoptic_loss_weight
        self.box_keep_fraction = box_keep_fraction
        self.with_void = box_keep_fraction < 1
        self.combine = combine
        self.score_thresh, self.nms_thresh, self.max_det = score_thresh, nms_thresh, max_det
        self.removal_overlap, self.vote_thresh = removal_overlap, vote_thresh
        self.stuff_area_limit = stuff_area_limit
        self.heuristic = (heuristic_overlap, heuristic_stuff_area, heuristic_score_thresh)

    @classmethod
    def from_config(cls, cfg):
        ret = super().from_config(cfg)
        if not cfg.MODEL.MASK_ON:
            raise ValueError("UPSNet needs the mask head: set MODEL.MASK_ON True")
        num_stuff = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES - cfg.MODEL.ROI_HEADS.NUM_CLASSES
        if num_stuff < 0:
            raise ValueError(
                f"MODEL.SEM_SEG_HEAD.NUM_CLASSES={cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES} must count "
                f"stuff + thing classes (>= MODEL.ROI_HEADS.NUM_CLASSES="
                f"{cfg.MODEL.ROI_HEADS.NUM_CLASSES})"
            )
        u, t, h = cfg.MODEL.UPSNET, cfg.MODEL.UPSNET.TEST, cfg.MODEL.PANOPTIC_FPN.COMBINE
        ret.update(
            sem_seg_head=build_sem_seg_head(cfg, ret["backbone"].output_shape()),
            num_stuff=num_stuff,
            panoptic_loss_weight=u.PANOPTIC_LOSS_WEIGHT,
            box_keep_fraction=u.BOX_KEEP_FRACTION,
            combine=t.COMBINE,
            score_thresh=t.SCORE_THRESH,
            nms_thresh=t.NMS_THRESH,
            max_det=t.MAX_DET,
            removal_overlap=t.REMOVAL_OVERLAP,
            vote_thresh=t.SEM_VOTE_THRESH,
            stuff_area_limit=t.STUFF_AREA_LIMIT,
            heuristic_overlap=h.OVERLAP_THRESH,
            heuristic_stuff_area=h.STUFF_AREA_LIMIT,
            heuristic_score_thresh=h.INSTANCES_CONFIDENCE_THRESH,
        )
        return ret

    # -----------------------------------------------------------------------------------------
    def mask_logits(self, features, boxes: List[torch.Tensor], classes: List[torch.Tensor]):
        """Mask-head logits (N×M×M) of the given class at the given boxes, per image."""
        heads = self.roi_heads
        x = heads.mask_pooler(
            [features[f] for f in heads.mask_in_features], [Boxes(b) for b in boxes]
        )
        logits = heads.mask_head.layers(x)
        cls = torch.cat(classes)
        if logits.shape[1] == 1:  # class-agnostic mask head
            cls = torch.zeros_like(cls)
        logits = logits[torch.arange(len(cls), device=cls.device), cls]
        return logits.split([len(b) for b in boxes])

    def forward(self, batched_inputs: List[Dict[str, torch.Tensor]]):
        if not self.training:
            return self.inference(batched_inputs)
        images, gt_instances, gt_sem = self.training_targets(batched_inputs)
        features = self.backbone(images.tensor)
        _, losses = self.detector_losses(images, features, gt_instances)
        losses.update(self.segmentation_losses(features, gt_instances, gt_sem))
        return losses

    def training_targets(self, batched_inputs: List[Dict[str, torch.Tensor]]):
        """``(images, gt_instances, gt_sem)``: the normalised batch, its instances and its
        semantic maps padded like the images (255)."""
        for x in batched_inputs:
            if "sem_seg" not in x or "instances" not in x:
                raise KeyError(
                    f"{type(self).__name__} training needs 'sem_seg' and 'instances' per image: "
                    "use INPUT.DATASET_MAPPER_NAME PanopticMapper (VideoPanopticMapper for "
                    "VPSNet) on a COCO-panoptic dataset"
                )
        images = self.preprocess_image(batched_inputs)
        gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
        gt_sem = ImageList.from_tensors(
            [x["sem_seg"].to(self.device) for x in batched_inputs],
            self.backbone.size_divisibility,
            VOID,
            self.backbone.padding_constraints,
        ).tensor
        return images, gt_instances, gt_sem

    def detector_losses(self, images: ImageList, features, gt_instances: List[Instances]):
        """``(sampled proposals with their matched gt_* fields, RPN + ROI-head losses)``."""
        proposals, losses = self.proposal_generator(images, features, gt_instances)
        sampled, detector_losses = self.roi_heads(images, features, proposals, gt_instances)
        losses.update(detector_losses)
        return sampled, losses

    def segmentation_losses(self, features, gt_instances: List[Instances], gt_sem):
        """``loss_sem_seg``, ``loss_sem_roi`` (when weighted) and ``loss_panoptic``."""
        sem_logits, merged = self.sem_seg_head.layers(features)
        losses = {"loss_sem_seg": self.sem_seg_head.pixel_loss(sem_logits, gt_sem)}
        boxes = [x.gt_boxes.tensor for x in gt_instances]
        if self.sem_seg_head.roi_loss_weight > 0:
            losses["loss_sem_roi"] = self.sem_seg_head.roi_loss(merged, gt_sem, boxes)
        losses["loss_panoptic"] = self.panoptic_loss_weight * self.panoptic_loss(
            features, sem_logits, gt_instances, gt_sem
        )
        return losses

    def panoptic_loss(self, features, sem_logits, gt_instances: List[Instances], gt_sem):
        """Mean over images of the panoptic head's pixel cross-entropy at the semantic logits'
        resolution, on a random ``box_keep_fraction`` of each image's GT instances."""
        stride = self.sem_seg_head.common_stride
        height, width = sem_logits.shape[-2:]
        kept = []
        for inst in gt_instances:
            n = len(inst)
            k = min(n, max(1, int(n * self.box_keep_fraction + 0.5))) if n else 0
            kept.append(inst[torch.randperm(n, device=self.device)[:k]])
        mask_logits = self.mask_logits(
            features, [x.gt_boxes.tensor for x in kept], [x.gt_classes for x in kept]
        )
        total = sem_logits.sum() * 0
        for i, (inst, logits) in enumerate(zip(kept, mask_logits)):
            boxes = inst.gt_boxes.tensor / stride
            masks = inst.gt_masks.tensor[:, ::stride, ::stride][:, :height, :width]
            masks = F.pad(masks, (0, width - masks.shape[2], 0, height - masks.shape[1]))
            pan = panoptic_logits(
                sem_logits[i],
                boxes,
                inst.gt_classes,
                paste_mask_logits(logits, boxes, height, width),
                self.num_stuff,
                self.with_void,
            )
            target = mask_matching(
                gt_sem[i, ::stride, ::stride][:height, :width],
                masks,
                self.num_stuff,
                self.with_void,
            )
            loss = F.cross_entropy(pan[None], target[None], ignore_index=VOID, reduction="sum")
            total = total + loss / (target != VOID).sum().clamp(min=1)
        return total / max(len(gt_instances), 1)

    # -----------------------------------------------------------------------------------------
    def inference(self, batched_inputs: List[Dict[str, torch.Tensor]], do_postprocess: bool = True):
        """``[{"instances", "sem_seg", "panoptic_seg"}]`` at each input's (height, width);
        ``do_postprocess=False`` returns the raw ``(detections, semantic logits)``."""
        images = self.preprocess_image(batched_inputs)
        features = self.backbone(images.tensor)
        return self.inference_on_features(batched_inputs, images, features, do_postprocess)

    def inference_on_features(self, batched_inputs, images: ImageList, features, do_postprocess):
        """:meth:`inference` after the features: detections, semantic logits, panoptic."""
        sem_logits = self.sem_seg_head.upsample(self.sem_seg_head.layers(features)[0])
        proposals, _ = self.proposal_generator(images, features, None)
        detections, _ = self.roi_heads(images, features, proposals, None)
        if not do_postprocess:
            return detections, sem_logits
        if self.combine == "panoptic_head":
            panoptic = self.panoptic_inference(features, detections, sem_logits, images.image_sizes)
        results = []
        for i, (x, image_size) in enumerate(zip(batched_inputs, images.image_sizes)):
            height, width = x.get("height", image_size[0]), x.get("width", image_size[1])
            instances = detector_postprocess(detections[i], height, width)
            sem = sem_seg_postprocess(sem_logits[i], image_size, height, width)
            if self.combine == "panoptic_head":
                pan = self.panoptic_output(*panoptic[i], height, width)
            else:
                pan = heuristic_panoptic(instances, sem, self.num_stuff, *self.heuristic)
            results.append({"instances": instances, "sem_seg": sem, "panoptic_seg": pan})
        return results

    def panoptic_instances(self, detections: Instances) -> Instances:
        """Detections entering the panoptic head: score > thresh, class-agnostic NMS, top-K."""
        d = detections[detections.scores > self.score_thresh]
        keep = nms(d.pred_boxes.tensor, d.scores, self.nms_thresh)[: self.max_det]
        return d[keep]

    def panoptic_inference(self, features, detections, sem_logits, image_sizes):
        """Per image, at the input resolution: ``(label map over [stuff, instances, VOID],
        kept instances)`` after mask removal, the panoptic head's argmax and the vote."""
        chosen = [self.panoptic_instances(d) for d in detections]
        mask_logits = self.mask_logits(
            features, [d.pred_boxes.tensor for d in chosen], [d.pred_classes for d in chosen]
        )
        out = []
        for d, logits, sem, (h, w) in zip(chosen, mask_logits, sem_logits, image_sizes):
            sem = sem[:, :h, :w]
            boxes = d.pred_boxes.tensor
            pasted = paste_mask_logits(logits, boxes, h, w)
            keep = mask_removal(pasted > 0, d.pred_classes, d.scores, self.removal_overlap)
            d, boxes, pasted = d[keep], boxes[keep], pasted[keep]
            pan = panoptic_logits(
                sem, boxes, d.pred_classes, pasted, self.num_stuff, self.with_void
            )
            labels = pan.argmax(dim=0)
            if self.with_void:
                labels[labels == pan.shape[0] - 1] = VOID
            labels = vote_relabel(
                labels, sem.argmax(dim=0), d.pred_classes, self.num_stuff, self.vote_thresh
            )
            out.append((labels, d))
        return out

    def panoptic_output(self, labels, instances, height, width):
        """detectron2's ``panoptic_seg`` at (height, width): nearest resize, then segments."""
        if labels.shape != (height, width):
            labels = F.interpolate(labels[None, None].float(), size=(height, width), mode="nearest")
            labels = labels[0, 0].long()
        return panoptic_segments(
            labels, instances.pred_classes, instances.scores, self.num_stuff, self.stuff_area_limit
        )
