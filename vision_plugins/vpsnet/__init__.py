"""VPSNet: video panoptic segmentation (Kim et al., CVPR 2020) on top of UPSNet.

Importing registers the ``VPSNet`` meta-architecture, the flow networks (``FLOW_NET_REGISTRY``:
``RAFTSmall``, ``RAFTLarge``, ``ZeroFlow``, ``Precomputed``) and the track head
(``TRACK_HEAD_REGISTRY``: ``MaskTrackEmbedHead``); its spec declares ``VideoPanopticMapper``
(``mapper.py``). Data: ``vision_plugins.data.video_panoptic`` (``register_video_panoptic``, the
synthetic ``vp_video_panoptic_*``);
metric: ``vision_plugins.evaluation.vpq`` (VPQ).
"""

from . import spec  # noqa: F401  (registration)
from .config import add_vpsnet_config  # noqa: F401
from .flow import FLOW_NET_REGISTRY, build_flow_net  # noqa: F401
from .meta_arch import VPSNet  # noqa: F401
from .track_head import TRACK_HEAD_REGISTRY  # noqa: F401
