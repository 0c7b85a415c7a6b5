"""UPSNet: a unified panoptic segmentation network (Xiong et al., CVPR 2019).

Importing registers the ``UPSNet`` meta-architecture and ``UPSNetSemSegHead``
(SEM_SEG_HEADS_REGISTRY); its spec declares ``PanopticMapper`` (``mapper.py``). Data:
``vision_plugins.data.panoptic`` (``register_panoptic_dataset``, the synthetic ``vp_panoptic_*``).
"""

from . import spec  # noqa: F401  (registration)
from .config import add_upsnet_config  # noqa: F401
from .meta_arch import UPSNet  # noqa: F401
from .sem_seg_head import UPSNetSemSegHead  # noqa: F401
