"""RetinaFace single-stage face detection with five landmarks (Deng et al., CVPR 2020), as
biubug6/Pytorch_Retinaface (MobileNet-0.25 and ResNet-50).

Importing registers the backbones ``build_retinaface_mnet_backbone`` and
``build_retinaface_resnet_backbone``, the ``RetinaFace`` meta-architecture and the
``retinaface_mnet`` / ``retinaface_r50`` weight converters and the ``RetinaFaceMapper``.
"""

from . import spec  # noqa: F401  (registration)
from .backbone import (  # noqa: F401
    build_retinaface_mnet_backbone,
    build_retinaface_resnet_backbone,
)
from .config import add_retinaface_config  # noqa: F401
from .mapper import RetinaFaceMapper  # noqa: F401
from .meta_arch import RetinaFace  # noqa: F401
