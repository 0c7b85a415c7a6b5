"""vision_plugins: classic instance, panoptic, landmark and keypoint architectures as detectron2
plugins.

``import vision_plugins`` registers every architecture, dataset, mapper, evaluator and weight
converter in detectron2's / the project's registries (imports only; synthetic datasets are
generated lazily on first use). ``add_vision_plugins_config(cfg)`` adds every config key.
"""

__version__ = "0.1.0"

from . import (  # noqa: F401,E402  (registration: shared registries, then every ArchSpec)
    centernet,
    checkpoint,
    cornernet,
    data,
    densepose_uv,
    evaluation,
    mask_rcnn,
    pose_hourglass,
    retinaface,
    upsnet,
    vpsnet,
    yolact,
    yolact_edge,
)
from .config import add_vision_plugins_config  # noqa: E402

__all__ = ["add_vision_plugins_config", "__version__"]
