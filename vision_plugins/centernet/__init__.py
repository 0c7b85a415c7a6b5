"""CenterNet "Objects as Points" (Zhou et al., 2019) with ResNet / ResDCN backbones.

Importing registers ``build_centernet_resnet_backbone``, the ``CenterNetOAP`` meta-architecture
and the ``centernet_oap_res18`` / ``centernet_oap_resdcn18`` converters. (CornerNet,
CenterNet-Triplet and the Hourglass-104 backbone: issue #4, not implemented yet.)
"""

from . import convert  # noqa: F401  (registration)
from .backbone import build_centernet_resnet_backbone  # noqa: F401
from .config import add_centernet_oap_config  # noqa: F401
from .meta_arch import CenterNetOAP  # noqa: F401
