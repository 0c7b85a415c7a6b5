"""DensePose R-CNN, paper form (Güler, Neverova, Kokkinos, CVPR 2018): a dense (I, U, V) head on
Mask R-CNN's ROI heads.

Importing registers ``DensePoseUVROIHeads`` (ROI_HEADS_REGISTRY) and the spec (``DensePoseUVMapper``
of ``mapper.py``, IUV drawing). Data: ``vision_plugins.data.densepose`` (DensePose-COCO loader,
flip symmetries) and the synthetic ``vp_densepose_*``; metrics:
``vision_plugins.evaluation.densepose``.
"""

from . import spec  # noqa: F401  (registration)
from .config import add_densepose_uv_config  # noqa: F401
from .roi_heads import DensePoseUVROIHeads  # noqa: F401
