"""CornerNet (Law & Deng, 2018) and CenterNet: keypoint triplets (Duan et al., 2019) on the
Hourglass-104 backbone (``build_hourglass104_backbone``, also used by CenterNet-OAP).

Importing registers the backbone, the ``CornerNet`` / ``CenterNetTriplet`` meta-architectures and
the ``cornernet`` / ``cornernet_lite`` / ``centernet_triplet`` converters.
"""

from . import spec  # noqa: F401  (registration)
from .backbone import Hourglass104, build_hourglass104_backbone  # noqa: F401
from .config import add_cornernet_config  # noqa: F401
from .meta_arch import CenterNetTriplet, CornerNet  # noqa: F401
