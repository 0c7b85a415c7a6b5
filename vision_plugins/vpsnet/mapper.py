"""VPSNet data: ``VideoPanopticMapper``, UPSNet's panoptic mapper on (target, reference) frame
pairs with optional precomputed flow."""

from typing import List

import numpy as np
import torch
from detectron2.config import configurable

from ..data.video_panoptic import (
    flow_file_name,
    read_flow_png,
    reference_candidates,
    transform_flow,
)
from ..upsnet.mapper import PanopticMapper

__all__ = ["VideoPanopticMapper"]


class VideoPanopticMapper(PanopticMapper):
    """Video panoptic frames for VPSNet.

    Training samples (:meth:`prepare_dataset`) are the annotated frames paired with the frames at
    ``INPUT.VPSNET.REF_OFFSETS`` (annotated ones when the track head is on); each call draws one
    reference, applies the same augmentation to both frames and returns PanopticMapper's target
    plus ``ref`` = ``{"image", "instances"}`` (instances only for an annotated reference) and,
    with ``MODEL.VPSNET.FLOW.NAME`` ``Precomputed``, ``flow`` (2×H×W, target -> reference).
    At test time each frame (``video_id``, ``frame_id``, ``is_annotated`` kept) gets its flow to
    the previous frame when precomputed flow is used.
    """

    @configurable
    def __init__(self, is_train: bool, *, ref_offsets, refs_annotated: bool, with_flow, **kw):
        super().__init__(is_train, **kw)
        self.ref_offsets, self.refs_annotated, self.with_flow = (
            ref_offsets,
            refs_annotated,
            with_flow,
        )

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        ret = super().from_config(cfg, is_train)
        ret.update(
            ref_offsets=list(cfg.INPUT.VPSNET.REF_OFFSETS),
            refs_annotated="track" in cfg.MODEL.VPSNET.MODE,
            with_flow=cfg.MODEL.VPSNET.FLOW.NAME == "Precomputed",
        )
        return ret

    def prepare_dataset(self, dicts: List[dict]) -> List[dict]:
        return reference_candidates(dicts, self.ref_offsets, self.refs_annotated)

    def _flow(self, record: dict, ref_frame_id: int, transforms) -> torch.Tensor:
        if "flow_root" not in record:
            raise KeyError(
                "MODEL.VPSNET.FLOW.NAME is 'Precomputed' but the dataset has no flow files "
                "(register_video_panoptic(..., flow_root=...))"
            )
        if ref_frame_id == record["frame_id"]:
            flow = np.zeros((record["height"], record["width"], 2), np.float32)
        else:
            flow = read_flow_png(
                flow_file_name(
                    record["flow_root"], record["video_id"], record["frame_id"], ref_frame_id
                )
            )
        return torch.as_tensor(transform_flow(flow, transforms).transpose(2, 0, 1).copy())

    def __call__(self, dataset_dict: dict) -> dict:
        record = dict(dataset_dict)
        refs = record.pop("references", None)
        image = self.read_image(record)
        if not self.is_train:
            transforms = self.map_test(record, image)
            if self.with_flow and record.get("frame_id", 1) > 1:  # a lone image: no flow
                record["flow"] = self._flow(record, record["frame_id"] - 1, transforms)
            return record
        if not refs:
            raise KeyError("training sample without 'references': use prepare_dataset")
        ref = refs[np.random.randint(len(refs))]
        transforms = self.map_train(record, image)
        image = record["image"].permute(1, 2, 0).numpy()
        ref_raw = self.read_image(ref)
        ref_image = transforms.apply_image(ref_raw)
        if ref_image.shape != image.shape:
            raise ValueError(
                f"reference frame {ref['file_name']} is {ref_image.shape[:2]} after the "
                f"augmentation, the target {image.shape[:2]}"
            )
        out_ref = {"image": torch.as_tensor(np.ascontiguousarray(ref_image.transpose(2, 0, 1)))}
        if ref["is_annotated"]:
            ref_index = transforms.apply_segmentation(self.segment_index(ref, ref_raw.shape[:2]))
            out_ref["instances"] = self.instances(ref_index.astype(np.int64), ref["segments_info"])
        record["ref"] = out_ref
        if self.with_flow:
            record["flow"] = self._flow(record, ref["frame_id"], transforms)
        return record
