"""``VPSNet``: UPSNet + flow-aligned feature fusion + a track head (Kim et al., CVPR 2020).

Training (inputs from ``VideoPanopticMapper``: the target frame with ``sem_seg`` / ``instances``
(``gt_track_ids``) and a reference frame ``ref`` with its ``image`` and ``instances``):

- ``fuse``: the target's FPN features are fused with the reference frame's (``FuseModule``, flow
  from the frozen flow network); every UPSNet head and loss runs on the fused features.
- ``track``: ``loss_track`` (× ``TRACK.LOSS_WEIGHT``): the sampled foreground proposals of the
  target (fused features) against the reference GT instances (reference FPN, unfused).

Inference runs frame by frame, in order, carrying state within a video (``video_id``; a frame
without one is a video of its own): the previous frame is the reference (the first frame is its
own), and the panoptic instances are associated with the video's tracks (``TrackMemory``).
Outputs are UPSNet's plus ``track_id`` in the thing segments of ``panoptic_seg`` and
``pred_track_ids`` in ``instances`` (-1 for detections outside the panoptic result). Without the
track head every panoptic instance is a new track (VPQ cannot link them across frames).
"""

from typing import Dict, List

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.structures import Boxes, ImageList

from ..upsnet.meta_arch import UPSNet
from .flow import build_flow_net
from .fuse import FuseModule
from .track_head import TRACK_HEAD_REGISTRY, TrackMemory, track_loss, track_targets

__all__ = ["VPSNet", "MODES"]

MODES = ("fuse", "track", "fusetrack")


@META_ARCH_REGISTRY.register()
class VPSNet(UPSNet):
    @configurable
    def __init__(
        self,
        *,
        mode: str,
        flow_net: torch.nn.Module = None,
        fuse: torch.nn.Module = None,
        track_head: torch.nn.Module = None,
        track_loss_weight: float = 0.5,
        match_coeff=(1.0, 2.0, 10.0),
        dummy_iou: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"MODEL.VPSNET.MODE={mode!r}: expected one of {MODES}")
        self.mode = mode
        self.flow_net, self.fuse, self.track_head = flow_net, fuse, track_head
        if ("fuse" in mode) != (fuse is not None and flow_net is not None):
            raise ValueError(f"mode {mode!r} needs a flow network and a fuse module iff 'fuse'")
        if ("track" in mode) != (track_head is not None):
            raise ValueError(f"mode {mode!r} needs a track head iff 'track'")
        if track_head is not None and self.combine != "panoptic_head":
            raise ValueError(
                "VPSNet tracks the panoptic head's instances: MODEL.UPSNET.TEST.COMBINE must be "
                f"'panoptic_head', not {self.combine!r}"
            )
        self.track_loss_weight = track_loss_weight
        self.memory = TrackMemory(match_coeff, dummy_iou)
        self._video = None  # (video_id, raw image, unfused features) of the previous frame

    @classmethod
    def from_config(cls, cfg):
        ret = super().from_config(cfg)
        v = cfg.MODEL.VPSNET
        ret.update(
            mode=v.MODE,
            track_loss_weight=v.TRACK.LOSS_WEIGHT,
            match_coeff=tuple(v.TRACK.MATCH_COEFF),
            dummy_iou=v.TRACK.DUMMY_IOU,
        )
        if len(v.TRACK.MATCH_COEFF) != 3:
            raise ValueError(
                f"MODEL.VPSNET.TRACK.MATCH_COEFF={v.TRACK.MATCH_COEFF}: need 3 values "
                "(log-score, IoU and same-class weights)"
            )
        shapes = ret["backbone"].output_shape()
        if "fuse" in v.MODE:
            channels = {s.channels for s in shapes.values()}
            if len(channels) != 1:
                raise ValueError(f"the fuse module needs equal FPN channels, got {shapes}")
            if not 0 <= v.FUSE.REFINE_LEVEL < len(shapes):
                raise ValueError(
                    f"MODEL.VPSNET.FUSE.REFINE_LEVEL={v.FUSE.REFINE_LEVEL}: the backbone has "
                    f"{len(shapes)} levels"
                )
            ret["flow_net"] = build_flow_net(cfg)
            ret["fuse"] = FuseModule(channels.pop(), v.FUSE.REFINE_LEVEL, v.FUSE.CORR_RANGE)
        if "track" in v.MODE:
            r = cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION
            channels = shapes[cfg.MODEL.ROI_HEADS.IN_FEATURES[0]].channels
            ret["track_head"] = TRACK_HEAD_REGISTRY.get("MaskTrackEmbedHead")(
                ShapeSpec(channels=channels, height=r, width=r), v.TRACK.NUM_FC, v.TRACK.FC_DIM
            )
        return ret

    # -----------------------------------------------------------------------------------------
    def raw_images(self, batched_inputs: List[dict]) -> torch.Tensor:
        """The un-normalised RGB batch (padded like ``preprocess_image``) for the flow net."""
        images = [x["image"].to(self.device).float() for x in batched_inputs]
        if self.input_format == "BGR":
            images = [x.flip(0) for x in images]
        return ImageList.from_tensors(
            images, self.backbone.size_divisibility, 0.0, self.backbone.padding_constraints
        ).tensor

    def embed(self, features, boxes: List[torch.Tensor]) -> List[torch.Tensor]:
        """Track embeddings of the given boxes, per image (the box head's RoI pooler)."""
        heads = self.roi_heads
        x = heads.box_pooler(
            [features[f] for f in heads.box_in_features], [Boxes(b) for b in boxes]
        )
        return self.track_head(x).split([len(b) for b in boxes])

    def forward(self, batched_inputs: List[Dict[str, torch.Tensor]]):
        if not self.training:
            return self.inference(batched_inputs)
        self._video = None
        for x in batched_inputs:
            if "ref" not in x:
                raise KeyError(
                    "VPSNet training needs a reference frame 'ref' per input: use "
                    "INPUT.DATASET_MAPPER_NAME VideoPanopticMapper on a video panoptic dataset"
                )
        images, gt_instances, gt_sem = self.training_targets(batched_inputs)
        refs = [x["ref"] for x in batched_inputs]
        features = self.backbone(images.tensor)
        ref_features = self.backbone(self.preprocess_image(refs).tensor)
        if self.fuse is not None:
            flow = self.flow_net(
                self.raw_images(batched_inputs), self.raw_images(refs), batched_inputs
            )
            features = self.fuse(features, ref_features, flow)
        sampled, losses = self.detector_losses(images, features, gt_instances)
        losses.update(self.segmentation_losses(features, gt_instances, gt_sem))
        if self.track_head is not None:
            losses["loss_track"] = self.track_loss_weight * self.tracking_loss(
                features, sampled, ref_features, [r["instances"].to(self.device) for r in refs]
            )
        return losses

    def tracking_loss(self, features, sampled, ref_features, ref_instances):
        """Track cross-entropy of the foreground proposals against the reference GT."""
        num_classes = self.roi_heads.num_classes
        fg = [p[p.gt_classes < num_classes] for p in sampled]
        queries = self.embed(features, [p.proposal_boxes.tensor for p in fg])
        references = self.embed(ref_features, [r.gt_boxes.tensor for r in ref_instances])
        targets = []
        for p, r in zip(fg, ref_instances):
            if p.has("gt_track_ids"):
                targets.append(track_targets(p.gt_track_ids, r.gt_track_ids))
            else:  # an image without GT instances: no gt_* fields on its proposals, no fg
                targets.append(p.gt_classes.new_zeros(0))
        return track_loss(queries, references, targets)

    # -----------------------------------------------------------------------------------------
    def inference(self, batched_inputs: List[Dict[str, torch.Tensor]], do_postprocess=True):
        """Frame by frame in input order (see the module docstring)."""
        results = []
        for x in batched_inputs:
            out = self.frame_inference(x, do_postprocess)
            if do_postprocess:
                results.extend(out)
            else:  # (detections, semantic logits) of each frame
                results.append(out)
        return results

    def frame_inference(self, x: dict, do_postprocess: bool):
        video = x.get("video_id")
        if self._video is None or video is None or self._video[0] != video:
            self.memory.reset()
            self._untracked = 0  # ids given so far in this video without the track head
            self._video = None
        images = self.preprocess_image([x])
        features = self.backbone(images.tensor)
        raw = self.raw_images([x]) if self.fuse is not None else None
        fused = features
        if self.fuse is not None:
            ref_raw, ref_features = (raw, features) if self._video is None else self._video[1:]
            if ref_raw.shape != raw.shape:
                raise ValueError(
                    f"frame {x.get('frame_id')} of video {video} is {tuple(raw.shape[2:])} "
                    f"(padded), the previous frame {tuple(ref_raw.shape[2:])}"
                )
            inputs = [x] if self._video is not None else [{}]  # no flow at a video's start
            fused = self.fuse(features, ref_features, self.flow_net(raw, ref_raw, inputs))
        self._video = (video, raw, features) if video is not None else None
        return self.inference_on_features([x], images, fused, do_postprocess)

    def panoptic_inference(self, features, detections, sem_logits, image_sizes):
        """UPSNet's panoptic inference, then the kept instances get ``pred_track_ids`` (and the
        detections the same ids, -1 outside the panoptic result)."""
        for d in detections:
            d.det_index = torch.arange(len(d), device=d.scores.device)
        out = super().panoptic_inference(features, detections, sem_logits, image_sizes)
        for (labels, kept), d in zip(out, detections):
            boxes = kept.pred_boxes.tensor
            if self.track_head is not None and len(kept):
                embeddings = self.embed(features, [boxes])[0]
                ids = self.memory.update(embeddings, boxes, kept.pred_classes, kept.scores)
            else:  # untracked: every instance a new object (ids unique within the video)
                ids = torch.arange(self._untracked + 1, self._untracked + len(kept) + 1)
                self._untracked += len(kept)
            kept.pred_track_ids = ids.to(boxes.device)
            d.pred_track_ids = torch.full_like(d.det_index, -1)
            d.pred_track_ids[kept.det_index] = kept.pred_track_ids
            d.remove("det_index")
        return out

    def panoptic_output(self, labels, instances, height, width):
        panoptic, segments = super().panoptic_output(labels, instances, height, width)
        for seg in segments:
            if seg["isthing"]:
                seg["track_id"] = int(instances.pred_track_ids[seg["instance_id"]])
        return panoptic, segments
