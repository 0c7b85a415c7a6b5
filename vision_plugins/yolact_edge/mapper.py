"""``YolactEdgeVideoMapper``: frame pairs for YolactEdge's flow and joint training stages."""

import os
from typing import List

import numpy as np
import torch
from detectron2.config import configurable

from ..data.image_io import read_image
from ..data.video_panoptic import flow_file_name, read_flow_png, transform_flow
from ..yolact.mapper import YolactDatasetMapper

__all__ = ["YolactEdgeVideoMapper", "frame_pairs", "pan"]


def frame_pairs(dicts: List[dict], offsets, annotated_only: bool, flow_only: bool) -> List[dict]:
    """Each frame (annotated ones only when ``annotated_only``) with ``"references"``: the frames
    of its video at ``offsets`` (only those with a flow file from the frame when ``flow_only``).
    Frames without any reference are dropped."""
    frames = {(d["video_id"], d["frame_id"]): d for d in dicts}
    samples = []
    for d in dicts:
        if annotated_only and not d.get("is_annotated", True):
            continue
        refs = [frames.get((d["video_id"], d["frame_id"] + o)) for o in offsets]
        refs = [r for r in refs if r is not None]
        if flow_only:
            if "flow_root" not in d:
                raise KeyError(
                    f"{d['file_name']}: the flow stage needs a dataset with flow files "
                    "('flow_root', see vision_plugins.data.video_panoptic.flow_file_name)"
                )
            refs = [r for r in refs if os.path.exists(_flow_path(d, r))]
        if refs:
            samples.append({**d, "references": refs})
    if not samples:
        raise ValueError(f"no frame pairs at offsets {list(offsets)} in {len(dicts)} frames")
    return samples


def _flow_path(d, ref):
    return flow_file_name(d["flow_root"], d["video_id"], d["frame_id"], ref["frame_id"])


class _Recording:
    """An augmentation list that keeps the transforms of its last call."""

    def __init__(self, augmentations):
        self.augmentations, self.last = augmentations, None

    def __call__(self, aug_input):
        self.last = self.augmentations(aug_input)
        return self.last

    def __repr__(self):
        return repr(self.augmentations)


class YolactEdgeVideoMapper(YolactDatasetMapper):
    """``YolactDatasetMapper`` on a video dataset (dicts with ``video_id`` / ``frame_id``). For
    training, ``prepare_dataset`` pairs each frame with references: joint stage, the annotated
    frames with the frames at INPUT.YOLACT_EDGE.REF_OFFSETS; flow stage, every frame with the
    frames at INPUT.YOLACT_EDGE.FLOW_REF_OFFSETS that have a flow file. A call draws one
    reference, applies the frame's augmentation (flip, resize) to it as well, and adds ``ref`` =
    {"image"} and, for the flow stage, ``flow`` (2 x H x W, pixels, frame -> reference). With
    INPUT.YOLACT_EDGE.FLOW_SHIFT = S > 0 the flow stage also pans the reference by a random
    integer (dx, dy) in [-S, S]² px (zeros enter at the border) and adds it to the flow: larger,
    exactly known motions, as FlyingChairs' moving backgrounds. Test mapping is
    ``YolactDatasetMapper``'s (``video_id``, ``frame_id`` kept)."""

    @configurable
    def __init__(self, is_train, *, ref_offsets, stage, flow_shift=0, **kwargs):
        super().__init__(is_train, **kwargs)
        self.ref_offsets, self.stage, self.flow_shift = list(ref_offsets), stage, flow_shift
        self.augmentations = _Recording(self.augmentations)

    @classmethod
    def from_config(cls, cfg, is_train=True):
        ret = super().from_config(cfg, is_train)
        stage = cfg.MODEL.YOLACT_EDGE.TRAIN_STAGE
        i = cfg.INPUT.YOLACT_EDGE
        ret.update(
            stage=stage,
            ref_offsets=i.FLOW_REF_OFFSETS if stage == "flow" else i.REF_OFFSETS,
            flow_shift=i.FLOW_SHIFT,
        )
        return ret

    def prepare_dataset(self, dicts: List[dict]) -> List[dict]:
        if self.stage == "image":
            return [d for d in dicts if d.get("is_annotated", True)]
        return frame_pairs(dicts, self.ref_offsets, self.stage == "joint", self.stage == "flow")

    def __call__(self, dataset_dict: dict) -> dict:
        record = dict(dataset_dict)
        refs = record.pop("references", None)
        if not self.is_train or self.stage == "image":
            return super().__call__(record)
        if not refs:
            raise KeyError(f"{record['file_name']}: training sample without 'references'")
        ref = refs[np.random.randint(len(refs))]
        if self.stage == "flow":
            record.pop("annotations", None)
        out = super().__call__(record)
        transforms = self.augmentations.last
        ref_image = transforms.apply_image(read_image(ref["file_name"], self.image_format))
        if ref_image.shape[:2] != tuple(out["image"].shape[-2:]):
            raise ValueError(
                f"reference {ref['file_name']} is {ref_image.shape[:2]} after the augmentation, "
                f"the frame {tuple(out['image'].shape[-2:])}: frames of a video must share a size"
            )
        if self.stage == "flow":
            flow = transform_flow(read_flow_png(_flow_path(record, ref)), transforms)
            if self.flow_shift > 0:
                shift = np.random.randint(-self.flow_shift, self.flow_shift + 1, size=2)
                ref_image = pan(ref_image, *shift)
                flow = flow + shift.astype(np.float32)
            out["flow"] = torch.as_tensor(flow.transpose(2, 0, 1).copy())
        out["ref"] = {"image": torch.as_tensor(np.ascontiguousarray(ref_image.transpose(2, 0, 1)))}
        return out


def pan(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``image`` moved by (dx, dy) pixels: out[y, x] = image[y - dy, x - dx], zeros outside. A
    pixel matching reference position q before the pan matches q + (dx, dy) after it."""
    out = np.zeros_like(image)
    h, w = image.shape[:2]
    if abs(dx) >= w or abs(dy) >= h:
        return out
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out
