"""``UPSNetSemSegHead``: UPSNet's semantic head (Xiong et al., CVPR 2019, §3.2).

One subnet of deformable 3x3 convs (torchvision ``DeformConv2d``, offsets from a zero-initialised
3x3 conv) is shared by P2-P5; P3-P5 outputs are upsampled bilinearly to P2, concatenated and
scored by a 1x1 conv: logits at stride 4 over stuff-then-thing classes, upsampled x4 for the
pixel loss and the output.
"""

from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import ShapeSpec, get_norm
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from torch import nn
from torchvision.ops import DeformConv2d, roi_align

__all__ = ["UPSNetSemSegHead", "DeformConvBlock", "semantic_crops"]


class DeformConvBlock(nn.Module):
    """DCNv1 3x3 (or a plain conv) + optional norm + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, norm: str, deformable: bool):
        super().__init__()
        self.deformable = deformable
        if deformable:
            self.offset = nn.Conv2d(in_channels, 18, 3, padding=1)
            nn.init.zeros_(self.offset.weight)
            nn.init.zeros_(self.offset.bias)
            self.conv = DeformConv2d(in_channels, out_channels, 3, padding=1, bias=not norm)
        else:
            self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not norm)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        if self.conv.bias is not None:
            nn.init.zeros_(self.conv.bias)
        self.norm = get_norm(norm, out_channels) if norm else None

    def forward(self, x):
        x = self.conv(x, self.offset(x)) if self.deformable else self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        return F.relu(x)


def semantic_crops(sem_seg: torch.Tensor, boxes: List[torch.Tensor], size: int, ignore: int):
    """Nearest-neighbour ``size``x``size`` crops of label maps (B×H×W) at boxes (per image, N×4
    absolute x0y0x1y1): cell (i, j) takes the label at the cell centre; outside the map -> ignore.
    """
    crops = []
    cells = (torch.arange(size, device=sem_seg.device, dtype=torch.float32) + 0.5) / size
    h, w = sem_seg.shape[-2:]
    for labels, b in zip(sem_seg, boxes):
        xs = b[:, 0:1] + cells * (b[:, 2:3] - b[:, 0:1])  # N×size
        ys = b[:, 1:2] + cells * (b[:, 3:4] - b[:, 1:2])
        xi, yi = xs.floor().long(), ys.floor().long()
        inside = ((yi >= 0) & (yi < h))[:, :, None] & ((xi >= 0) & (xi < w))[:, None, :]
        crop = labels[yi.clamp(0, h - 1)[:, :, None], xi.clamp(0, w - 1)[:, None, :]]
        crops.append(torch.where(inside, crop, torch.full_like(crop, ignore)))
    return torch.cat(crops) if crops else sem_seg.new_zeros((0, size, size))


@SEM_SEG_HEADS_REGISTRY.register()
class UPSNetSemSegHead(nn.Module):
    """detectron2 sem-seg head interface: ``forward(features, targets) -> (logits at input
    resolution, {"loss_sem_seg"})``; :meth:`layers` gives the stride-4 logits and the merged
    feature, and :meth:`roi_loss` the RoI semantic loss, for the UPSNet meta-architecture."""

    @configurable
    def __init__(
        self,
        input_shape: Dict[str, ShapeSpec],
        *,
        num_classes: int,
        num_layers: int = 3,
        conv_dim: int = 128,
        norm: str = "",
        deformable: bool = True,
        loss_weight: float = 1.0,
        roi_loss_weight: float = 0.0,
        ignore_value: int = 255,
    ):
        super().__init__()
        self.in_features = list(input_shape)
        strides = [input_shape[f].stride for f in self.in_features]
        channels = {input_shape[f].channels for f in self.in_features}
        if len(channels) != 1:
            raise ValueError(f"UPSNetSemSegHead: input features differ in width: {channels}")
        if num_layers < 1:
            raise ValueError(f"MODEL.UPSNET.SEM_NUM_LAYERS={num_layers}: need at least 1")
        self.common_stride = strides[0]
        width = channels.pop()
        layers, in_ch = [], width
        for i in range(num_layers):
            out_ch = width if i < num_layers - 2 else conv_dim
            layers.append(DeformConvBlock(in_ch, out_ch, norm, deformable))
            in_ch = out_ch
        self.subnet = nn.Sequential(*layers)
        self.score = nn.Conv2d(conv_dim * len(self.in_features), num_classes, 1)
        nn.init.normal_(self.score.weight, std=0.01)
        nn.init.zeros_(self.score.bias)
        self.num_classes = num_classes
        self.loss_weight = loss_weight
        self.roi_loss_weight = roi_loss_weight
        self.ignore_value = ignore_value

    @classmethod
    def from_config(cls, cfg, input_shape):
        u = cfg.MODEL.UPSNET
        return {
            "input_shape": {
                k: v for k, v in input_shape.items() if k in cfg.MODEL.SEM_SEG_HEAD.IN_FEATURES
            },
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            "num_layers": u.SEM_NUM_LAYERS,
            "conv_dim": u.SEM_CONV_DIM,
            "norm": u.SEM_NORM,
            "deformable": u.SEM_DEFORMABLE,
            "loss_weight": cfg.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT,
            "roi_loss_weight": u.SEM_ROI_LOSS_WEIGHT,
            "ignore_value": cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE,
        }

    def layers(self, features: Dict[str, torch.Tensor]):
        """``(logits at the first feature's stride, merged feature)``; the subnet is shared."""
        outs = [self.subnet(features[f]) for f in self.in_features]
        size = outs[0].shape[-2:]
        merged = torch.cat(
            [outs[0]]
            + [F.interpolate(o, size=size, mode="bilinear", align_corners=False) for o in outs[1:]],
            dim=1,
        )
        return self.score(merged), merged

    def upsample(self, logits: torch.Tensor) -> torch.Tensor:
        return F.interpolate(
            logits, scale_factor=self.common_stride, mode="bilinear", align_corners=False
        )

    def pixel_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the upsampled logits (mean over labelled pixels) × loss weight."""
        logits = self.upsample(logits)[..., : targets.shape[-2], : targets.shape[-1]]
        return self.loss_weight * _ce(logits, targets, self.ignore_value)

    def roi_loss(self, merged: torch.Tensor, gt_sem_seg: torch.Tensor, boxes: List[torch.Tensor]):
        """The RoI semantic loss × its weight: 28×28 RoIAlign crops of the merged feature at the
        GT boxes, the shared 1×1 scorer, cross-entropy against the nearest GT label crops."""
        size = 28
        rois = roi_align(merged, boxes, size, 1.0 / self.common_stride, 0, aligned=True)
        targets = semantic_crops(gt_sem_seg, boxes, size, self.ignore_value)
        return self.roi_loss_weight * _ce(self.score(rois), targets, self.ignore_value)

    def forward(self, features: Dict[str, torch.Tensor], targets: Optional[torch.Tensor] = None):
        logits, _ = self.layers(features)
        if self.training:
            return None, {"loss_sem_seg": self.pixel_loss(logits, targets)}
        return self.upsample(logits), {}


def _ce(logits: torch.Tensor, targets: torch.Tensor, ignore: int) -> torch.Tensor:
    """Mean pixel cross-entropy over non-ignored pixels; 0 (with a graph) when there are none."""
    loss = F.cross_entropy(logits, targets.long(), ignore_index=ignore, reduction="sum")
    return loss / (targets != ignore).sum().clamp(min=1)
