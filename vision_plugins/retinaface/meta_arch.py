"""``RetinaFace`` meta-architecture (Deng et al., CVPR 2020), as biubug6/Pytorch_Retinaface.

Single-stage face detector on three levels (strides 8, 16, 32; 2 anchors per location) whose
shared FPN + SSH features feed three multi-task heads: face/background, box deltas and five
landmarks (eyes, nose, mouth corners). Gradients of the three tasks shape the same backbone.
"""

import math
from typing import Dict, List

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import batched_nms, cat
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone
from detectron2.modeling.anchor_generator import build_anchor_generator
from detectron2.modeling.box_regression import Box2BoxTransform
from detectron2.modeling.meta_arch.dense_detector import permute_to_N_HWA_K
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, ImageList, Instances, pairwise_iou
from torch import nn

from ..layers import ImagePreprocessor

__all__ = ["RetinaFace", "encode_landmarks", "decode_landmarks", "nms_plus_one"]


class RetinaFaceHead(nn.Module):
    """Per level, 1x1 convs to A·2 class logits, A·4 box deltas and A·10 landmark deltas
    (``class_heads.i`` / ``bbox_heads.i`` / ``landmark_heads.i``: the reference's separate
    ``ClassHead`` / ``BboxHead`` / ``LandmarkHead`` per level)."""

    def __init__(self, channels, num_anchors, num_levels=3):
        super().__init__()
        self.class_heads = nn.ModuleList(
            nn.Conv2d(channels, num_anchors * 2, 1) for _ in range(num_levels)
        )
        self.bbox_heads = nn.ModuleList(
            nn.Conv2d(channels, num_anchors * 4, 1) for _ in range(num_levels)
        )
        self.landmark_heads = nn.ModuleList(
            nn.Conv2d(channels, num_anchors * 10, 1) for _ in range(num_levels)
        )

    def forward(self, features):
        """-> per level lists of (N, HWA, 2), (N, HWA, 4), (N, HWA, 10)."""
        logits = [permute_to_N_HWA_K(h(x), 2) for h, x in zip(self.class_heads, features)]
        deltas = [permute_to_N_HWA_K(h(x), 4) for h, x in zip(self.bbox_heads, features)]
        landms = [permute_to_N_HWA_K(h(x), 10) for h, x in zip(self.landmark_heads, features)]
        return logits, deltas, landms


def _centres_sizes(anchors):
    wh = anchors[:, 2:] - anchors[:, :2]
    return anchors[:, :2] + 0.5 * wh, wh


def encode_landmarks(points, anchors, weight=10.0):
    """(P, 5, 2) absolute points -> (P, 10) deltas (p - c) / wh * weight (reference variance
    0.1)."""
    c, wh = _centres_sizes(anchors)
    return ((points - c[:, None]) / wh[:, None] * weight).reshape(len(points), 10)


def decode_landmarks(deltas, anchors, weight=10.0):
    """Inverse of :func:`encode_landmarks`: (P, 10) -> (P, 5, 2)."""
    c, wh = _centres_sizes(anchors)
    return c[:, None] + deltas.view(-1, 5, 2) / weight * wh[:, None]


def nms_plus_one(boxes, scores, iou_threshold):
    """NMS with pixel-inclusive areas, (x2 - x1 + 1)(y2 - y1 + 1), as the reference
    ``py_cpu_nms``: torchvision's NMS on boxes grown by one pixel at the bottom-right."""
    return batched_nms(boxes + boxes.new_tensor([0, 0, 1, 1]), scores, torch.zeros_like(scores,
                       dtype=torch.long), iou_threshold)  # fmt: skip


@META_ARCH_REGISTRY.register()
class RetinaFace(ImagePreprocessor):
    """Training returns ``loss_box_reg`` (x LOC_WEIGHT), ``loss_cls`` and ``loss_landmark`` (x
    LANDMARK_WEIGHT), the reference ``MultiBoxLoss``. Inference returns ``Instances`` with
    ``pred_boxes``, ``scores``, ``pred_classes`` (0 = face) and ``pred_keypoints`` (N, 5, 3:
    x, y, the face score) in the order of ``vision_plugins.data.widerface.FACE_KEYPOINT_NAMES``."""

    @configurable
    def __init__(
        self,
        *,
        backbone,
        anchor_generator,
        box2box_transform,
        pixel_mean,
        pixel_std,
        iou_threshold=0.35,
        force_match_min_iou=0.2,
        neg_pos_ratio=7,
        loc_weight=2.0,
        landmark_weight=1.0,
        score_thresh=0.02,
        topk_candidates=5000,
        nms_thresh=0.4,
        nms_plus_one=True,
        max_detections_per_image=750,
    ):
        super().__init__()
        self.backbone = backbone
        self.in_features = backbone._out_features
        channels = backbone.output_shape()[self.in_features[0]].channels
        self.anchor_generator = anchor_generator
        num_anchors = anchor_generator.num_cell_anchors
        if len(set(num_anchors)) != 1:
            raise ValueError(
                f"RetinaFace needs the same number of anchors per level: {num_anchors}"
            )
        self.head = RetinaFaceHead(channels, num_anchors[0], len(self.in_features))
        self.box2box_transform = box2box_transform
        self.iou_threshold, self.force_match_min_iou = iou_threshold, force_match_min_iou
        self.neg_pos_ratio = neg_pos_ratio
        self.loc_weight, self.landmark_weight = loc_weight, landmark_weight
        self.score_thresh, self.topk_candidates = score_thresh, topk_candidates
        self.nms_thresh, self.nms_plus_one = nms_thresh, nms_plus_one
        self.max_detections_per_image = max_detections_per_image
        self.register_pixel_stats(pixel_mean, pixel_std)

    @classmethod
    def from_config(cls, cfg):
        c = cfg.MODEL.RETINAFACE
        backbone = build_backbone(cfg)
        shapes = [backbone.output_shape()[f] for f in backbone._out_features]
        return {
            "backbone": backbone,
            "anchor_generator": build_anchor_generator(cfg, shapes),
            # no clamp of dw/dh: the reference decodes without one
            "box2box_transform": Box2BoxTransform(c.BBOX_REG_WEIGHTS, scale_clamp=math.inf),
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "iou_threshold": c.IOU_THRESHOLD,
            "force_match_min_iou": c.FORCE_MATCH_MIN_IOU,
            "neg_pos_ratio": c.NEG_POS_RATIO,
            "loc_weight": c.LOC_WEIGHT,
            "landmark_weight": c.LANDMARK_WEIGHT,
            "score_thresh": c.SCORE_THRESH_TEST,
            "topk_candidates": c.TOPK_CANDIDATES_TEST,
            "nms_thresh": c.NMS_THRESH_TEST,
            "nms_plus_one": c.NMS_PLUS_ONE,
            "max_detections_per_image": cfg.TEST.DETECTIONS_PER_IMAGE,
        }

    def preprocess_image(self, batched_inputs) -> ImageList:
        """Normalised images, batched without size divisibility (padding would add anchors)."""
        return super().preprocess_image(batched_inputs)

    def forward_raw(self, images: ImageList):
        """Anchors (P, 4) absolute XYXY and the raw head outputs concatenated over levels:
        class logits (N, P, 2), box deltas (N, P, 4), landmark deltas (N, P, 10)."""
        features = self.backbone(images.tensor)
        features = [features[f] for f in self.in_features]
        anchors = Boxes.cat(self.anchor_generator(features)).tensor
        logits, deltas, landms = self.head(features)
        return anchors, cat(logits, 1), cat(deltas, 1), cat(landms, 1)

    def forward(self, batched_inputs: List[Dict]):
        images = self.preprocess_image(batched_inputs)
        anchors, logits, deltas, landms = self.forward_raw(images)
        if self.training:
            gt = [x["instances"].to(self.device) for x in batched_inputs]
            return self.losses(anchors, logits, deltas, landms, gt)
        scores, boxes, points = self.decode(anchors, logits, deltas, landms)
        return self.postprocess(scores, boxes, points, batched_inputs, images.image_sizes)

    # --- training -----------------------------------------------------------------------

    @torch.no_grad()
    def match(self, anchors, gt: Instances):
        """Reference ``match`` for one image: ``(labels (P,), matched GT index (P,))``, labels
        1 (face with landmarks), -1 (face without), 0 (background). Positives: IoU >=
        IOU_THRESHOLD; each face's best anchor is forced positive when that IoU >=
        FORCE_MATCH_MIN_IOU (and is assigned to that face in any case, as in the reference)."""
        num = anchors.shape[0]
        labels = torch.zeros(num, dtype=torch.long, device=anchors.device)
        idx = torch.zeros(num, dtype=torch.long, device=anchors.device)
        if len(gt) == 0:
            return labels, idx
        overlaps = pairwise_iou(gt.gt_boxes, Boxes(anchors))  # (G, P)
        best_prior_overlap, best_prior_idx = overlaps.max(1)
        valid = best_prior_overlap >= self.force_match_min_iou
        if not valid.any():
            return labels, idx
        best_truth_overlap, idx = overlaps.max(0)
        best_truth_overlap[best_prior_idx[valid]] = 2.0
        for j in range(len(best_prior_idx)):
            idx[best_prior_idx[j]] = j
        face = torch.where(self._has_landmarks(gt), 1, -1)
        labels = face[idx]
        labels[best_truth_overlap < self.iou_threshold] = 0
        return labels, idx

    @staticmethod
    def _has_landmarks(gt: Instances):
        """The reference labels a face -1 when its first landmark is missing (x = -1)."""
        if not gt.has("gt_keypoints"):
            return torch.zeros(len(gt), dtype=torch.bool, device=gt.gt_boxes.device)
        return gt.gt_keypoints.tensor[:, 0, 2] > 0

    def losses(self, anchors, logits, deltas, landms, gt_instances):
        matches = [self.match(anchors, gt) for gt in gt_instances]
        labels = torch.stack([m[0] for m in matches])
        pos = labels != 0
        pos_landm = labels > 0
        gt_deltas, gt_landm = [], []
        for gt, (_, idx) in zip(gt_instances, matches):
            if len(gt) == 0:
                gt_deltas.append(torch.zeros_like(anchors))
                gt_landm.append(anchors.new_zeros(len(anchors), 10))
                continue
            gt_deltas.append(self.box2box_transform.get_deltas(anchors, gt.gt_boxes.tensor[idx]))
            if gt.has("gt_keypoints"):
                points = gt.gt_keypoints.tensor[idx, :, :2]
                gt_landm.append(
                    encode_landmarks(points, anchors, self.box2box_transform.weights[0])
                )
            else:
                gt_landm.append(anchors.new_zeros(len(anchors), 10))
        gt_deltas, gt_landm = torch.stack(gt_deltas), torch.stack(gt_landm)
        n_pos = max(pos.sum().item(), 1)
        n_landm = max(pos_landm.sum().item(), 1)
        loss_box = F.smooth_l1_loss(deltas[pos], gt_deltas[pos], reduction="sum") / n_pos
        loss_landm = F.smooth_l1_loss(landms[pos_landm], gt_landm[pos_landm], reduction="sum")
        # hard negatives: the largest logsumexp - background logit among non-positives
        with torch.no_grad():
            flat = logits.reshape(-1, 2)
            mining = (torch.logsumexp(flat, 1) - flat[:, 0]).view(pos.shape)
            mining[pos] = 0
            rank = mining.sort(1, descending=True)[1].sort(1)[1]
            num_neg = (self.neg_pos_ratio * pos.long().sum(1, keepdim=True)).clamp(
                max=pos.shape[1] - 1
            )
            neg = rank < num_neg
        selected = pos | neg
        loss_cls = F.cross_entropy(logits[selected], pos[selected].long(), reduction="sum") / n_pos
        return {
            "loss_box_reg": loss_box * self.loc_weight,
            "loss_cls": loss_cls,
            "loss_landmark": loss_landm / n_landm * self.landmark_weight,
        }

    # --- inference ----------------------------------------------------------------------

    def decode(self, anchors, logits, deltas, landms):
        """Batched decoding of :meth:`forward_raw`'s outputs over every anchor: face scores
        (N, P) (softmax), boxes (N, P, 4) absolute XYXY and landmarks (N, P, 5, 2). The exported
        graph ends here (``vision_plugins/retinaface/export.py``)."""
        n, p = deltas.shape[:2]
        scores = F.softmax(logits, -1)[..., 1]
        flat_anchors = anchors[None].expand(n, -1, -1).reshape(-1, 4)
        boxes = self.box2box_transform.apply_deltas(deltas.reshape(-1, 4), flat_anchors)
        weight = self.box2box_transform.weights[0]
        points = decode_landmarks(landms.reshape(-1, 10), flat_anchors, weight)
        return scores, boxes.view(n, p, 4), points.view(n, p, 5, 2)

    def postprocess(self, scores, boxes, points, batched_inputs, image_sizes):
        """The one post-processing of the eager and exported paths: per image :meth:`select`
        and detectron2's ``detector_postprocess`` to the input's height / width."""
        results = []
        for i, (x, size) in enumerate(zip(batched_inputs, image_sizes)):
            r = self.select(scores[i], boxes[i], points[i], size)
            height, width = x.get("height", size[0]), x.get("width", size[1])
            results.append({"instances": detector_postprocess(r, height, width)})
        return results

    def inference_single(self, anchors, scores, deltas, landms, image_size) -> Instances:
        """:meth:`select` on one image's raw deltas (decoded here)."""
        boxes = self.box2box_transform.apply_deltas(deltas, anchors)
        points = decode_landmarks(landms, anchors, self.box2box_transform.weights[0])
        return self.select(scores, boxes, points, image_size)

    def select(self, scores, boxes, points, image_size) -> Instances:
        """Reference ``detect.py`` on one image's decoded scores (P,), boxes (P, 4) and
        landmarks (P, 5, 2): scores > SCORE_THRESH, the TOPK best over all levels, NMS,
        DETECTIONS_PER_IMAGE kept; not clipped here (detectron2's ``detector_postprocess`` clips
        boxes afterwards)."""
        keep = (scores > self.score_thresh).nonzero().squeeze(1)
        scores = scores[keep]
        order = scores.argsort(descending=True)[: self.topk_candidates]
        keep, scores = keep[order], scores[order]
        boxes, points = boxes[keep], points[keep]
        if self.nms_plus_one:
            kept = nms_plus_one(boxes, scores, self.nms_thresh)
        else:
            kept = batched_nms(boxes, scores, torch.zeros_like(keep), self.nms_thresh)
        kept = kept[: self.max_detections_per_image]
        result = Instances(image_size)
        result.pred_boxes = Boxes(boxes[kept])
        result.scores = scores[kept]
        result.pred_classes = torch.zeros_like(kept)
        result.pred_keypoints = torch.cat(
            [points[kept], scores[kept][:, None, None].expand(-1, 5, 1)], 2
        )
        return result
