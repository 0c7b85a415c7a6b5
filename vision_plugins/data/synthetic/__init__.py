"""Synthetic datasets (``vp_shapes_*``, ``vp_people_*``, ``vp_pose_mpii_*``,
``vp_pose_mpii_hard_*``, ``vp_faces_*``, ``vp_panoptic_*``, ``vp_densepose_*``,
``vp_video_panoptic_*``, ``vp_pix2pix_*``, ``vp_cyclegan_*``; ``vp_style_*`` and ``vp_sr_*``
are added by ``data.style`` / ``data.super_resolution``),
generated on first use in their task's own format.

``register_all_synthetic()`` (run on ``import vision_plugins``) registers every split in
detectron2's ``DatasetCatalog`` / ``MetadataCatalog``; loading a split generates it under
:func:`dataset_root` if needed (see :func:`ensure_generated`).
"""

from typing import Optional

from ..video_instances import register_synthetic_video_instances
from .common import (
    ADDED_FAMILIES,
    SYNTHETIC_DATASETS,
    SyntheticSpec,
    add_synthetic_family,
    dataset_root,
    ensure_generated,
    register_synthetic_specs,
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
    "add_synthetic_family",
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


def register_all_synthetic(root: Optional[str] = None) -> None:
    """Register every synthetic split under ``root`` (default :func:`dataset_root`): this
    package's families and those added with :func:`add_synthetic_family` (``vp_style_*``,
    ``vp_sr_*``).

    Idempotent; calling it again re-registers, picking up a changed ``$VP_DATASETS``.
    """
    register_synthetic_specs((*SPECS, *ADDED_FAMILIES), root)
    register_synthetic_video_instances()  # vp_video_instances_*: views of vp_video_panoptic_*
