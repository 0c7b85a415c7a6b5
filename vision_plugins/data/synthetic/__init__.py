"""Synthetic datasets (``vp_shapes_*``, ``vp_people_*``, ``vp_pose_mpii_*``,
``vp_pose_mpii_hard_*``, ``vp_faces_*``, ``vp_panoptic_*``, ``vp_densepose_*``,
``vp_video_panoptic_*``, ``vp_pix2pix_*``, ``vp_cyclegan_*``),
generated on first use in their task's own format.

``register_all_synthetic()`` (run on ``import vision_plugins``) registers every split in
detectron2's ``DatasetCatalog`` / ``MetadataCatalog``; loading a split generates it under
:func:`dataset_root` if needed (see :func:`ensure_generated`).
"""

import functools
import os
from typing import Optional

from detectron2.data import DatasetCatalog, MetadataCatalog

from ..video_instances import register_synthetic_video_instances
from .common import (
    SYNTHETIC_DATASETS,
    SyntheticSpec,
    dataset_root,
    ensure_generated,
    registered_synthetic_names,
    split_paths,
)
from .densepose import DENSEPOSE_SPEC
from .faces import FACES_SPEC
from .panoptic import PANOPTIC_SPEC
from .people import PEOPLE_SPEC
from .pose_mpii import POSE_MPII_SPEC
from .pose_mpii_hard import POSE_MPII_HARD_SPEC
from .shapes import SHAPES_SPEC
from .translation import CYCLEGAN_SPECS, PIX2PIX_SPECS
from .video_panoptic import VIDEO_PANOPTIC_SPEC

__all__ = [
    "SYNTHETIC_DATASETS",
    "SPECS",
    "SyntheticSpec",
    "dataset_root",
    "ensure_generated",
    "register_all_synthetic",
    "registered_synthetic_names",
    "split_paths",
]

SPECS = (
    SHAPES_SPEC,
    PEOPLE_SPEC,
    POSE_MPII_SPEC,
    POSE_MPII_HARD_SPEC,
    FACES_SPEC,
    PANOPTIC_SPEC,
    DENSEPOSE_SPEC,
    VIDEO_PANOPTIC_SPEC,
    *PIX2PIX_SPECS,  # one spec per split (each writes its own official phase folders)
    *CYCLEGAN_SPECS,
)


def _load(name: str, root: str):
    json_file, image_root = ensure_generated(name, root=root)
    return SYNTHETIC_DATASETS[name].load(json_file, image_root, name)


def register_all_synthetic(root: Optional[str] = None) -> None:
    """Register every synthetic split under ``root`` (default :func:`dataset_root`).

    Idempotent; calling it again re-registers, picking up a changed ``$VP_DATASETS``.
    """
    root = root or dataset_root()
    for spec in SPECS:
        for name in spec.names():
            SYNTHETIC_DATASETS[name] = spec
            json_file, image_root = split_paths(name, root=root)
            if name in DatasetCatalog:
                DatasetCatalog.remove(name)
                MetadataCatalog.remove(name)
            DatasetCatalog.register(name, functools.partial(_load, name, root))
            extra = spec.split_metadata(os.path.dirname(json_file)) if spec.split_metadata else {}
            MetadataCatalog.get(name).set(
                json_file=json_file,
                image_root=image_root,
                evaluator_type=spec.evaluator_type,
                **spec.metadata,
                **extra,
            )
    register_synthetic_video_instances()  # vp_video_instances_*: views of vp_video_panoptic_*
