"""YolactEdge: YOLACT with keyframe feature transfer for video (Liu et al., ICRA 2021).

Importing registers the ``YolactEdge`` meta-architecture, its test transform (YOLACT's),
the ``YolactEdgeVideoMapper`` and the ``yolact_edge`` weight converter.
"""

from . import spec  # noqa: F401  (registration)
from .config import add_yolact_edge_config  # noqa: F401
from .mapper import YolactEdgeVideoMapper, frame_pairs  # noqa: F401
from .meta_arch import KeyframeState, YolactEdge  # noqa: F401
from .modules import SPA, FeatFlowNet, warp_features  # noqa: F401
