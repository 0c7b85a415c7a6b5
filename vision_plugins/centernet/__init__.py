"""CenterNet "Objects as Points" (Zhou et al., 2019) with ResNet / ResDCN / Hourglass-104
backbones (the hourglass is ``vision_plugins.cornernet``'s).

Importing registers ``build_centernet_resnet_backbone``, the ``CenterNetOAP`` meta-architecture
and the ``centernet_oap_res18`` / ``centernet_oap_resdcn18`` / ``centernet_oap_hg`` converters.
"""

from . import spec  # noqa: F401  (registration)
from .backbone import build_centernet_resnet_backbone  # noqa: F401
from .config import add_centernet_oap_config  # noqa: F401
from .meta_arch import CenterNetOAP  # noqa: F401
