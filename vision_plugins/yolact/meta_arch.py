"""``YOLACT`` meta-architecture (YOLACT and YOLACT++ through MODEL.YOLACT flags).

Bolya et al., "YOLACT: Real-time Instance Segmentation" (ICCV 2019) and "YOLACT++" (TPAMI
2020), as in dbolya/yolact @902073d: a one-stage detector whose masks are linear combinations of
k image-wide prototypes (ProtoNet on P3) with per-anchor coefficients, assembled after NMS.
"""

from typing import Dict, List

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone
from detectron2.structures import BitMasks, ImageList, Instances, PolygonMasks
from torch import nn

from ..layers import ImagePreprocessor, ModulatedDeformConv2d, fold_batchnorm_at_inference
from .box_ops import (
    YolactAnchorGenerator,
    batched_cross_class_fast_nms,
    batched_fast_nms,
    canonical_order,
    compact_candidates,
    crop_masks,
    decode_boxes,
    gather_rows,
    pad_detections,
    select_candidates,
)
from .heads import FastMaskIoUNet, ProtoNet, YolactHead
from .losses import YolactLossConfig, YolactTargets, yolact_losses
from .postprocess import detections_to_instances

__all__ = ["YOLACT"]


@META_ARCH_REGISTRY.register()
class YOLACT(ImagePreprocessor):
    """Input: detectron2 dicts whose ``image`` is the MAX_SIZE² network input
    (``YolactDatasetMapper`` / ``Predictor`` resize it), ``height``/``width`` the output size.

    Training returns ``loss_box``, ``loss_cls``, ``loss_mask``, ``loss_semseg`` (+
    ``loss_maskiou`` for YOLACT++), see ``yolact.losses``. Inference returns per image
    ``Instances`` at (height, width) with ``pred_boxes``, ``scores``, ``pred_classes``
    (0-based), ``pred_masks`` (bool) and, with MASKIOU.ENABLED, ``mask_scores`` = score x predicted
    mask IoU (the official mask re-scoring, used for segm AP)."""

    @configurable
    def __init__(
        self,
        *,
        backbone,
        anchor_generator,
        num_classes,
        num_prototypes=32,
        pixel_mean,
        pixel_std,
        semseg_on=True,
        maskiou_on=False,
        loss_cfg=None,
        nms_conf_thresh=0.05,
        nms_iou_thresh=0.5,
        nms_top_k=200,
        max_detections=100,
        cross_class_nms=False,
    ):
        super().__init__()
        self.backbone = backbone
        self.in_features = backbone._out_features
        channels = backbone.output_shape()[self.in_features[0]].channels
        self.anchor_generator = anchor_generator
        self.num_classes = num_classes
        self.proto_net = ProtoNet(channels, channels, num_prototypes)
        self.head = YolactHead(channels, anchor_generator.num_anchors, num_classes, num_prototypes)
        self.semantic_seg_conv = nn.Conv2d(channels, num_classes, 1) if semseg_on else None
        self.maskiou_net = FastMaskIoUNet(num_classes) if maskiou_on else None
        self.loss_cfg = loss_cfg or YolactLossConfig()
        self.nms_conf_thresh, self.nms_iou_thresh = nms_conf_thresh, nms_iou_thresh
        self.nms_top_k, self.max_detections = nms_top_k, max_detections
        self.cross_class_nms = cross_class_nms
        # CPU speed-ups that change float rounding only: channels-last activations (oneDNN's
        # convolutions ~15 % faster) and BatchNorm folded into the ResNet convolutions at
        # inference. Not with deformable blocks: their offsets amplify rounding differences
        # (measured on the YOLACT++ parity fixture, whose detections then change).
        self.channels_last = not any(
            isinstance(m, ModulatedDeformConv2d) for m in backbone.modules()
        )
        if self.channels_last:
            fold_batchnorm_at_inference(backbone.bottom_up)
        self.register_pixel_stats(pixel_mean, pixel_std)
        self._init_weights()

    def _init_weights(self):
        """Official ``init_weights``: Xavier-uniform weights and zero biases for every conv
        outside the backbone."""
        resnet = {id(m) for m in self.backbone.bottom_up.modules()}
        for m in self.modules():
            if type(m) is nn.Conv2d and id(m) not in resnet:
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    @classmethod
    def from_config(cls, cfg):
        c = cfg.MODEL.YOLACT
        return {
            "backbone": build_backbone(cfg),
            "anchor_generator": YolactAnchorGenerator(cfg),
            "num_classes": c.NUM_CLASSES,
            "num_prototypes": c.NUM_PROTOTYPES,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "semseg_on": c.SEMSEG_ON,
            "maskiou_on": c.MASKIOU.ENABLED,
            "loss_cfg": YolactLossConfig(
                pos_iou=c.POS_IOU,
                neg_iou=c.NEG_IOU,
                crowd_iof=c.CROWD_IOF,
                negpos_ratio=c.NEGPOS_RATIO,
                bbox_alpha=c.BBOX_ALPHA,
                conf_alpha=c.CONF_ALPHA,
                mask_alpha=c.MASK_ALPHA,
                semseg_alpha=c.SEMSEG_ALPHA,
                masks_to_train=c.MASKS_TO_TRAIN,
                maskiou_alpha=c.MASKIOU.ALPHA,
                maskiou_discard_area=c.MASKIOU.DISCARD_AREA,
            ),
            "nms_conf_thresh": c.NMS.CONF_THRESH,
            "nms_iou_thresh": c.NMS.IOU_THRESH,
            "nms_top_k": c.NMS.TOP_K,
            "max_detections": c.NMS.MAX_DETECTIONS,
            "cross_class_nms": c.NMS.CROSS_CLASS,
        }

    def forward_features(self, images: torch.Tensor):
        """Network outputs: loc (N, P, 4), conf logits (N, P, C+1), coefs (N, P, k), priors
        (P, 4), proto (N, Hp, Wp, k), features."""
        features = self.backbone(self._memory_format(images))
        return self.predict([features[f] for f in self.in_features])

    def _memory_format(self, images):
        return (
            images.contiguous(memory_format=torch.channels_last) if self.channels_last else images
        )

    def predict(self, feats):
        """ProtoNet, prediction head and anchors on the FPN levels ``feats`` (P3 first)."""
        proto = self.proto_net(feats[0]).permute(0, 2, 3, 1).contiguous()
        loc, conf, coefs = self.head(feats)
        priors = self.anchor_generator(feats)
        return loc, conf, coefs, priors, proto, feats

    def forward(self, batched_inputs: List[Dict]):
        images = self.preprocess_image(batched_inputs)
        outputs = self.forward_features(images.tensor)
        if self.training:
            return self.losses(batched_inputs, images, outputs)
        return self.inference(batched_inputs, images, outputs)

    def losses(self, batched_inputs, images: ImageList, outputs):
        """YOLACT's losses of ``forward_features`` outputs against the inputs' instances."""
        loc, conf, coefs, priors, proto, feats = outputs
        segm = self.semantic_seg_conv(feats[0]) if self.semantic_seg_conv is not None else None
        targets = [self._targets(x, hw) for x, hw in zip(batched_inputs, images.image_sizes)]
        return yolact_losses(
            loc, conf, coefs, priors, proto, segm, targets, self.loss_cfg, self.maskiou_net
        )

    def inference(self, batched_inputs, images: ImageList, outputs):
        """``[{"instances": Instances}]`` of ``forward_features`` outputs: :meth:`decode` (what
        the exported ``model`` graph holds), :meth:`detections` (the same function for every
        backend) and :func:`detections_to_instances`."""
        loc, conf, coefs, priors, proto, _ = outputs
        detections = self.detections(*self.decode(loc, conf, coefs, priors, proto))
        results = []
        for i, x in enumerate(batched_inputs):
            h, w = images.image_sizes[i]
            height, width = x.get("height", h), x.get("width", w)
            instances = detections_to_instances([d[i] for d in detections], height, width)
            results.append({"instances": instances})
        return results

    def decode(self, loc, conf, coefs, priors, proto):
        """The continuous part of the decoding (exported graphs hold it): ``(boxes (B, P, 4)
        relative x1y1x2y2, scores (B, P, C+1) softmax, coefs, proto)``."""
        return decode_boxes(loc, priors), F.softmax(conf, -1), coefs, proto

    def select(self, boxes, scores):
        """The decisions (official ``Detect``): the confidence filter, Fast NMS (per class or
        cross-class) and the kept detections in ``canonical_order`` (by class and prior), in
        fixed shapes: ``(prior indices (B, D), classes (B, D), scores (B, D))``, D =
        MAX_DETECTIONS (TOP_K with cross-class NMS), score -1 where there is no detection.
        Never in an exported graph: a score within rounding of the confidence threshold, an IoU
        of the NMS threshold or a top-k cut can be decided otherwise by another runtime, and one
        candidate more or less changes which others Fast NMS keeps; every backend decides here,
        on its own graph's ``boxes`` / ``scores``. NMS runs on the candidates only
        (``compact_candidates``: same detections, top-k over them instead of every prior), its
        outputs padded to D."""
        num_priors = boxes.shape[1]
        top_k = min(self.nms_top_k, num_priors)
        prior, cand_boxes, candidates = compact_candidates(
            boxes, select_candidates(scores, self.nms_conf_thresh)
        )
        if self.cross_class_nms:
            size = top_k
            idx, classes, scores = batched_cross_class_fast_nms(
                cand_boxes, candidates, self.nms_iou_thresh, self.nms_top_k
            )
        else:
            size = min(self.max_detections, candidates.shape[1] * top_k)
            idx, classes, scores = batched_fast_nms(
                cand_boxes, candidates, self.nms_iou_thresh, self.nms_top_k, self.max_detections
            )
        idx, classes, scores = pad_detections(prior.gather(1, idx), classes, scores, size)
        return canonical_order(idx, classes, scores, num_priors)

    def assemble(self, boxes, coefs, proto, scores, classes):
        """Masks of the selected detections (exported as the ``masks`` graph): ``boxes``
        (B, D, 4), ``coefs`` (B, D, k), ``proto`` (B, Hp, Wp, k), ``scores`` / ``classes``
        (B, D) -> ``(masks (B, D, Hp, Wp) cropped sigmoid [, mask_scores (B, D)])``."""
        n, hp, wp, k = proto.shape
        masks = torch.sigmoid(proto.reshape(n, hp * wp, k) @ coefs.transpose(1, 2))
        masks = masks.view(n, hp, wp, -1)
        masks = crop_masks(masks, boxes).permute(0, 3, 1, 2).contiguous()
        if self.maskiou_net is None:
            return (masks,)
        d = masks.shape[1]
        iou = self.maskiou_net(masks.view(n * d, 1, hp, wp)).view(n, d, -1)
        return masks, scores * iou.gather(2, classes[..., None]).squeeze(2)

    def detections(self, boxes, scores, coefs, proto, assemble=None):
        """Official ``Detect`` + the mask part of ``postprocess`` on a batch of :meth:`decode`
        outputs: :meth:`select`, then ``assemble`` (default :meth:`assemble`; an exported
        backend passes its ``masks`` graph) on the selected rows. Returns ``(boxes (B, D, 4),
        scores (B, D), classes (B, D), masks (B, D, Hp, Wp) [, mask_scores (B, D)])``."""
        idx, classes, scores = self.select(boxes, scores)
        boxes, coefs = gather_rows(boxes, idx), gather_rows(coefs, idx)
        masks = (assemble or self.assemble)(boxes, coefs, proto, scores, classes)
        return (boxes, scores, classes, *masks)

    def _targets(self, x, image_size) -> YolactTargets:
        h, w = image_size
        scale = torch.tensor([w, h, w, h], dtype=torch.float32, device=self.device)
        inst = x["instances"].to(self.device)
        if not inst.has("gt_masks"):  # no annotation left in this image
            masks = torch.zeros(len(inst), h, w, device=self.device)
        elif isinstance(inst.gt_masks, PolygonMasks):
            masks = BitMasks.from_polygon_masks(inst.gt_masks, h, w).tensor
        else:
            masks = inst.gt_masks.tensor
        crowd = x.get("crowd_boxes")
        return YolactTargets(
            boxes=inst.gt_boxes.tensor / scale,
            labels=inst.gt_classes,
            masks=masks.float(),
            crowd_boxes=None if crowd is None else crowd.to(self.device) / scale,
        )

    @torch.no_grad()
    def inference_single(self, boxes, scores, coefs, proto, height, width) -> Instances:
        """:meth:`detections` + :func:`detections_to_instances` for one image: ``boxes`` (P, 4)
        relative, ``scores`` (P, C+1) softmax, ``coefs`` (P, k), ``proto`` (Hp, Wp, k)."""
        detections = self.detections(boxes[None], scores[None], coefs[None], proto[None])
        return detections_to_instances([d[0] for d in detections], height, width)
