"""YOLACT / YOLACT++ real-time instance segmentation (Bolya et al., ICCV 2019 / TPAMI 2020).

Importing registers ``build_yolact_resnet_fpn_backbone`` (BACKBONE_REGISTRY), the ``YOLACT``
meta-architecture and its spec (``spec.py``: the ``YolactDatasetMapper``, YOLACT's test
transform for the evaluation loader and ``Predictor``, the ``yolact`` / ``yolact_plus`` weight
converters). ``YolactAnchorGenerator`` is built by the model itself.
"""

from . import spec  # noqa: F401  (registration)
from .backbone import YolactFPN, build_yolact_resnet_fpn_backbone  # noqa: F401
from .box_ops import YolactAnchorGenerator  # noqa: F401
from .config import add_yolact_config  # noqa: F401
from .mapper import YolactDatasetMapper  # noqa: F401
from .meta_arch import YOLACT  # noqa: F401
