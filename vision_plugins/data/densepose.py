"""DensePose-COCO data: loader, per-instance ground truth, horizontal-flip symmetries, mapper.

Annotation fields (DensePose-COCO): ``dp_x``, ``dp_y`` (point positions in [0, 256) relative to
the annotation's box), ``dp_I`` (fine part 1..P), ``dp_U``, ``dp_V`` (chart coordinates in
[0, 1]) and ``dp_masks`` (one RLE per coarse part over the 256x256 box grid, ``[]`` when absent).
A horizontal flip mirrors ``x`` (``256 - x``) and the coarse-part grid, maps fine / coarse labels
through their symmetry lists and U, V through the per-part tables of the symmetry file
(``U_transforms`` / ``V_transforms``: 1xP cells of 256x256 tables indexed
``[floor(255 V), floor(255 U)]``), read from a **local** path (``densepose_transform_src``
metadata), never downloaded.
"""

import os
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_coco_json
from pycocotools import mask as mask_util
from scipy.io import loadmat

__all__ = [
    "DP_KEYS",
    "DENSEPOSE_COCO_POINT_LABEL_SYMMETRIES",
    "DENSEPOSE_COCO_MASK_LABEL_SYMMETRIES",
    "load_densepose_coco_json",
    "decode_dp_masks",
    "register_densepose_coco",
    "register_builtin_densepose",
    "DensePoseTransformData",
    "DensePoseUVTarget",
    "DensePoseList",
]

DP_KEYS = ["dp_x", "dp_y", "dp_I", "dp_U", "dp_V", "dp_masks"]
# left <-> right swaps of DensePose-COCO's 24 fine parts and 14 coarse parts (index 0 = background)
DENSEPOSE_COCO_POINT_LABEL_SYMMETRIES = [
    0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21, 24, 23,
]  # fmt: skip
DENSEPOSE_COCO_MASK_LABEL_SYMMETRIES = [0, 1, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 14]


def load_densepose_coco_json(json_file: str, image_root: str, dataset_name: Optional[str] = None):
    """COCO dicts keeping the DensePose fields, category ids mapped to contiguous ids (through
    detectron2's ``load_coco_json`` with ``dataset_name``); inconsistent point lists raise a
    ValueError naming the file and the annotation."""
    dicts = load_coco_json(
        json_file, image_root, dataset_name, extra_annotation_keys=DP_KEYS + ["id"]
    )
    for d in dicts:
        for ann in d["annotations"]:
            if "dp_x" not in ann:
                continue
            lengths = {k: len(ann.get(k, ())) for k in DP_KEYS[:5]}
            if len(set(lengths.values())) != 1:
                raise ValueError(
                    f"{json_file}: annotation {ann.get('id')} of {d['file_name']!r} has DensePose "
                    f"point lists of different lengths {lengths}"
                )
    return dicts


def register_densepose_coco(
    name: str, json_file: str, image_root: str, transform_src: str, smpl_dir: Optional[str] = None
) -> None:
    """Register a DensePose-COCO split; ``transform_src``: local ``UV_symmetry_transforms.mat``
    (needed for horizontal-flip training); ``smpl_dir``: the local folder with DensePose's
    ``SMPL_subdiv.mat``, ``SMPL_SUBDIV_TRANSFORM.mat`` and ``Pdist_matrix.pkl`` for GPS."""
    DatasetCatalog.register(name, lambda: load_densepose_coco_json(json_file, image_root, name))
    smpl = smpl_dir or os.path.dirname(transform_src)
    MetadataCatalog.get(name).set(
        json_file=json_file,
        image_root=image_root,
        evaluator_type="densepose",
        densepose_transform_src=transform_src,
        densepose_geodesics="smpl",
        densepose_smpl_subdiv=os.path.join(smpl, "SMPL_subdiv.mat"),
        densepose_smpl_subdiv_transform=os.path.join(smpl, "SMPL_SUBDIV_TRANSFORM.mat"),
        densepose_pdist_matrix=os.path.join(smpl, "Pdist_matrix.pkl"),
    )


def register_builtin_densepose(root: Optional[str] = None) -> None:
    """``densepose_coco_2014_{train,minival,valminusminival}_vp`` under ``root`` (default
    ``$DETECTRON2_DATASETS`` or ``datasets``): ``coco/annotations/densepose_{split}2014.json``,
    images ``coco/{train,val}2014``, symmetries ``densepose/UV_symmetry_transforms.mat`` and the
    SMPL geodesics files in ``densepose/``; nothing is read until a split is used."""
    root = root or os.environ.get("DETECTRON2_DATASETS", "datasets")
    transform = os.path.join(root, "densepose", "UV_symmetry_transforms.mat")
    for split, images in (
        ("train", "train2014"),
        ("minival", "val2014"),
        ("valminusminival", "val2014"),
    ):
        register_densepose_coco(
            f"densepose_coco_2014_{split}_vp",
            os.path.join(root, "coco", "annotations", f"densepose_{split}2014.json"),
            os.path.join(root, "coco", images),
            transform,
        )


def decode_dp_masks(masks) -> torch.Tensor:
    """The 256x256 part map (long, 0 = background) of ``dp_masks``: one RLE per coarse part
    (``[]`` when absent; later parts overwrite earlier ones), or a single RLE = a binary mask."""
    if isinstance(masks, dict):
        return torch.as_tensor(mask_util.decode(masks) > 0).long()
    segm = torch.zeros((256, 256), dtype=torch.long)
    for k, rle in enumerate(masks):
        if rle:
            segm[torch.as_tensor(mask_util.decode(rle) > 0)] = k + 1
    return segm


@dataclass
class DensePoseTransformData:
    """Flip symmetries: fine / coarse label lists and per-part U, V tables (P x 256 x 256)."""

    point_label_symmetries: List[int]
    mask_label_symmetries: List[int]
    u_transforms: torch.Tensor
    v_transforms: torch.Tensor

    @classmethod
    def load(cls, path: str) -> "DensePoseTransformData":
        """From a local ``UV_symmetry_transforms.mat`` (DensePose's file); the label lists are
        DensePose-COCO's unless the file has ``point_label_symmetries`` /
        ``mask_label_symmetries`` (as the synthetic set's does)."""
        if "://" in str(path):
            raise ValueError(
                f"densepose_transform_src={path!r}: give a local path to the symmetry .mat file "
                "(files are never downloaded)"
            )
        if not os.path.isfile(path):
            raise FileNotFoundError(f"DensePose UV symmetry file not found: {path!r}")
        data = loadmat(path)
        for key in ("U_transforms", "V_transforms"):
            if key not in data:
                raise KeyError(f"{path}: no {key!r} in the symmetry file")
        u = torch.as_tensor(np.stack([np.asarray(c, np.float32) for c in data["U_transforms"][0]]))
        v = torch.as_tensor(np.stack([np.asarray(c, np.float32) for c in data["V_transforms"][0]]))
        pts = data.get("point_label_symmetries", DENSEPOSE_COCO_POINT_LABEL_SYMMETRIES)
        masks = data.get("mask_label_symmetries", DENSEPOSE_COCO_MASK_LABEL_SYMMETRIES)
        pts, masks = [int(x) for x in np.ravel(pts)], [int(x) for x in np.ravel(masks)]
        if len(pts) != len(u) + 1:
            raise ValueError(
                f"{path}: {len(u)} U/V tables but {len(pts) - 1} fine-part label symmetries"
            )
        return cls(pts, masks, u, v)


class DensePoseUVTarget:
    """Ground truth of one instance: points ``x, y`` (0..256 in the box), ``i`` (1..P), ``u, v``
    and ``segm`` (256x256 long, coarse part per box-grid cell, 0 = background; None without
    ``dp_masks``; a single RLE instead of a list is a binary body mask)."""

    def __init__(self, x, y, i, u, v, segm):
        self.x, self.y, self.i, self.u, self.v, self.segm = x, y, i, u, v, segm

    @classmethod
    def from_annotation(cls, ann: dict) -> Optional["DensePoseUVTarget"]:
        if not ann.get("dp_x"):
            return None

        def f(key):
            return torch.as_tensor(ann[key], dtype=torch.float32)

        masks = ann.get("dp_masks")
        segm = decode_dp_masks(masks) if masks else None
        return cls(f("dp_x"), f("dp_y"), f("dp_I").long(), f("dp_U"), f("dp_V"), segm)

    def hflip(self, data: DensePoseTransformData) -> "DensePoseUVTarget":
        """The ground truth of the mirrored image (box-relative, so only the flip matters)."""
        i_new, u_new, v_new = self.i.clone(), self.u.clone(), self.v.clone()
        u_loc = (self.u * 255).long().clamp(0, 255)
        v_loc = (self.v * 255).long().clamp(0, 255)
        for part in torch.unique(self.i).tolist():
            sel = self.i == part
            i_new[sel] = data.point_label_symmetries[part]
            u_new[sel] = data.u_transforms[part - 1][v_loc[sel], u_loc[sel]]
            v_new[sel] = data.v_transforms[part - 1][v_loc[sel], u_loc[sel]]
        segm = None
        if self.segm is not None:
            segm = torch.as_tensor(data.mask_label_symmetries)[self.segm.flip(1)]
        return DensePoseUVTarget(256 - self.x, self.y.clone(), i_new, u_new, v_new, segm)

    def to(self, device) -> "DensePoseUVTarget":
        fields = (self.x, self.y, self.i, self.u, self.v, self.segm)
        return DensePoseUVTarget(*(t.to(device) if t is not None else None for t in fields))


class DensePoseList:
    """``Instances.gt_densepose``: one :class:`DensePoseUVTarget` or None per instance."""

    def __init__(self, targets: List[Optional[DensePoseUVTarget]]):
        self.targets = list(targets)

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, item):
        if isinstance(item, int):
            return self.targets[item]
        if isinstance(item, slice):
            return DensePoseList(self.targets[item])
        item = torch.as_tensor(item)
        if item.dtype == torch.bool:
            item = torch.nonzero(item).flatten()
        return DensePoseList([self.targets[k] for k in item.tolist()])

    def to(self, device):
        return DensePoseList([t.to(device) if t is not None else None for t in self.targets])

    def __iter__(self):
        return iter(self.targets)
