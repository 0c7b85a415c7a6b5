"""``CenterNetOAP``: CenterNet, "Objects as Points" (Zhou, Wang, Krähenbühl, 2019), as
xingyizhou/CenterNet @4c50fd3 (task ``ctdet``).

A box is its centre point: the network predicts, at stride 4, a per-class centre heatmap, the
box width/height and a sub-pixel centre offset at every location; detections are the top-K
local maxima of the heatmap (a 3x3 max-pool replaces NMS), each expanded to ``centre + offset
± size / 2``.
"""

import math

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, ImageList, Instances
from torch import nn

from ..layers import ImagePreprocessor, ModulatedDeformConv2d, fold_batchnorm_at_inference
from ..layers.center_heatmaps import (
    draw_gaussian,
    gather_at,
    gaussian_radius,
    heatmap_focal_loss,
    topk_peaks,
)
from ..layers.corner_pool import KPHead

__all__ = ["CenterNetOAP"]


def _heads(n, cin, head_conv, cout, bias=0.0):
    """Per stack: conv3x3(head_conv) - ReLU - conv1x1 (``KPHead``); heatmap bias -2.19, size and
    offset weights N(0, 0.001)."""
    heads = nn.ModuleList([KPHead(cin, head_conv, cout, bias) for _ in range(n)])
    if bias == 0.0:
        for head in heads:
            nn.init.normal_(head[1].weight, std=0.001)
    return heads


@META_ARCH_REGISTRY.register()
class CenterNetOAP(ImagePreprocessor):
    """Training losses (targets built from ``instances`` at the output resolution, see
    ``targets``): ``loss_hm`` (focal), ``loss_wh`` (L1 ×0.1), ``loss_off`` (L1). Inference:
    ``Instances`` with ``pred_boxes``, ``scores``, ``pred_classes`` (top-K peaks, no NMS)."""

    @configurable
    def __init__(self, *, backbone, num_classes, head_conv, pixel_mean, pixel_std, topk=100,
                 flip_test=False, hm_weight=1.0, wh_weight=0.1, off_weight=1.0):  # fmt: skip
        super().__init__()
        self.backbone = backbone
        # one set of heads per backbone output (Hourglass: per stack, all trained, the last one
        # used at inference; ResNet: one)
        self.in_features = backbone._out_features
        n = len(self.in_features)
        cin = backbone.output_shape()[self.in_features[-1]].channels
        self.stride = backbone.output_shape()[self.in_features[-1]].stride
        self.hm = _heads(n, cin, head_conv, num_classes, bias=-2.19)
        self.wh = _heads(n, cin, head_conv, 2)
        self.reg = _heads(n, cin, head_conv, 2)
        self.num_classes, self.topk, self.flip_test = num_classes, topk, flip_test
        self.weights = {"loss_hm": hm_weight, "loss_wh": wh_weight, "loss_off": off_weight}
        # CPU speed-ups that change float rounding only (as for YOLACT): channels-last activations
        # and BatchNorm folded into the ResNet convolutions at inference; not with DCN stages
        self.channels_last = not any(
            isinstance(m, ModulatedDeformConv2d) for m in backbone.modules()
        )
        if self.channels_last and hasattr(backbone, "bottom_up"):
            fold_batchnorm_at_inference(backbone.bottom_up)
        self.register_pixel_stats(pixel_mean, pixel_std)

    @classmethod
    def from_config(cls, cfg):
        c = cfg.MODEL.CENTERNET_OAP
        return {
            "backbone": build_backbone(cfg),
            "num_classes": c.NUM_CLASSES,
            "head_conv": c.HEAD_CONV,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "topk": c.TOP_K,
            "flip_test": c.FLIP_TEST,
            "hm_weight": c.HM_WEIGHT,
            "wh_weight": c.WH_WEIGHT,
            "off_weight": c.OFF_WEIGHT,
        }

    def preprocess_image(self, batched_inputs) -> ImageList:
        """Normalised images padded at the bottom-right to the backbone's size divisibility."""
        return super().preprocess_image(batched_inputs, self.backbone.size_divisibility)

    def forward_heads(self, images: torch.Tensor, all_stacks=False):
        """Raw heads at stride 4 of the last backbone output (``all_stacks``: a list with every
        output's): heatmap logits (N, C, h, w), size (N, 2, h, w), offset (N, 2, h, w)."""
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        feats = self.backbone(images)
        stacks = range(len(self.in_features)) if all_stacks else [len(self.in_features) - 1]
        outs = []
        for s in stacks:
            x = feats[self.in_features[s]]
            outs.append((self.hm[s](x), self.wh[s](x), self.reg[s](x)))
        return outs if all_stacks else outs[0]

    def forward(self, batched_inputs):
        images = self.preprocess_image(batched_inputs)
        if self.training:
            outs = self.forward_heads(images.tensor, all_stacks=True)
            out_h, out_w = outs[0][0].shape[-2:]
            targets = [self.targets(x["instances"], out_h, out_w) for x in batched_inputs]
            losses = [self.losses(*out, targets) for out in outs]
            return {k: sum(x[k] for x in losses) / len(losses) for k in losses[0]}
        scores, classes, boxes = self.inference_raw(images.tensor)
        return self.postprocess(scores, classes, boxes, batched_inputs, images.image_sizes)

    def inference_raw(self, x):
        """Normalised padded images (N, 3, H, W) -> the K best peaks of each image: ``scores``,
        ``classes`` (N, K) and ``boxes`` (N, K, 4) XYXY in input pixels (flip test included).
        The exported graph (``vision_plugins/centernet/export.py``)."""
        hm, wh, reg = self.forward_heads(torch.cat([x, x.flip(-1)]) if self.flip_test else x)
        heat = hm.sigmoid()
        if self.flip_test:  # official: average heatmap and size with the mirrored image's
            n = len(x)
            heat = (heat[:n] + heat[n:].flip(-1)) / 2
            wh, reg = (wh[:n] + wh[n:].flip(-1)) / 2, reg[:n]
        return self.decode_batch(heat, wh, reg)

    def postprocess(self, scores, classes, boxes, batched_inputs, image_sizes):
        """The one post-processing of the eager and exported paths: ``Instances`` per image,
        ``detector_postprocess`` to the input's height / width."""
        results = []
        for i, (x, size) in enumerate(zip(batched_inputs, image_sizes)):
            r = self._instances(scores[i], classes[i], boxes[i], size)
            h, w = x.get("height", size[0]), x.get("width", size[1])
            results.append({"instances": detector_postprocess(r, h, w)})
        return results

    def decode_batch(self, heat, wh, reg):
        """Official ``ctdet_decode`` (K peaks; box = centre + offset ± size / 2 in output pixels),
        scaled by the stride to input pixels: ``(scores, classes, boxes)`` (N, K), (N, K, 4)."""
        scores, classes, ys, xs = topk_peaks(heat, self.topk)
        off, size = gather_at(reg, ys, xs), gather_at(wh, ys, xs)  # (N, K, 2)
        cx, cy = xs.float() + off[..., 0], ys.float() + off[..., 1]
        boxes = torch.stack([cx - size[..., 0] / 2, cy - size[..., 1] / 2,
                             cx + size[..., 0] / 2, cy + size[..., 1] / 2], -1)  # fmt: skip
        return scores, classes, boxes * self.stride

    def decode(self, heat, wh, reg, image_size) -> Instances:
        """:meth:`decode_batch` of the first image as ``Instances``."""
        scores, classes, boxes = self.decode_batch(heat, wh, reg)
        return self._instances(scores[0], classes[0], boxes[0], image_size)

    @staticmethod
    def _instances(scores, classes, boxes, image_size) -> Instances:
        result = Instances(image_size)
        result.pred_boxes = Boxes(boxes)
        result.scores = scores
        result.pred_classes = classes
        return result

    def targets(self, instances: Instances, out_h: int, out_w: int):
        """Official ``ctdet`` targets at the output resolution: per object, the box / stride
        clipped to the map; a Gaussian of radius ``gaussian_radius(ceil h, ceil w, 0.7)`` (the
        legacy formula the official code trains with) on the integer centre of its class map;
        size (w, h) and the centre's sub-pixel offset at that centre."""
        heat = np.zeros((self.num_classes, out_h, out_w), np.float32)
        centers, sizes, offsets = [], [], []
        boxes = instances.gt_boxes.tensor.cpu().numpy() / self.stride
        for box, cls in zip(boxes, instances.gt_classes.tolist()):
            box[[0, 2]] = np.clip(box[[0, 2]], 0, out_w - 1)
            box[[1, 3]] = np.clip(box[[1, 3]], 0, out_h - 1)
            h, w = box[3] - box[1], box[2] - box[0]
            if h <= 0 or w <= 0:
                continue
            radius = max(0, int(gaussian_radius(math.ceil(h), math.ceil(w), 0.7, legacy=True)))
            ct = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)
            ct_int = ct.astype(np.int32)
            draw_gaussian(heat[cls], ct_int, radius)
            centers.append(ct_int)
            sizes.append((w, h))
            offsets.append(ct - ct_int)
        dev = self.device
        return (
            torch.from_numpy(heat).to(dev),
            torch.as_tensor(np.array(centers, np.int64).reshape(-1, 2), device=dev),
            torch.as_tensor(np.array(sizes, np.float32).reshape(-1, 2), device=dev),
            torch.as_tensor(np.array(offsets, np.float32).reshape(-1, 2), device=dev),
        )

    def losses(self, hm, wh, reg, targets):
        """Official ``CtdetLoss`` of one stack (the model averages the stacks'), given the
        per-image ``targets``: focal loss on the clamped sigmoid heatmap, L1 on size and offset at
        the object centres, each divided by (objects × 2 + 1e-4)."""
        gt_hm = torch.stack([t[0] for t in targets])
        pred = hm.sigmoid().clamp(1e-4, 1 - 1e-4)
        loss_hm = heatmap_focal_loss(pred, gt_hm)
        l1_wh, l1_off, count = hm.new_zeros(()), hm.new_zeros(()), 0
        for i, (_, ind, size, off) in enumerate(targets):
            if len(ind) == 0:
                continue
            l1_wh = l1_wh + (wh[i, :, ind[:, 1], ind[:, 0]].t() - size).abs().sum()
            l1_off = l1_off + (reg[i, :, ind[:, 1], ind[:, 0]].t() - off).abs().sum()
            count += len(ind)
        denom = 2 * count + 1e-4
        return {
            "loss_hm": loss_hm * self.weights["loss_hm"],
            "loss_wh": l1_wh / denom * self.weights["loss_wh"],
            "loss_off": l1_off / denom * self.weights["loss_off"],
        }
