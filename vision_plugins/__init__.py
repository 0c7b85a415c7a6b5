"""vision_plugins: classic instance, panoptic, landmark and keypoint architectures, and the
conditional generative models of the same lecture notes, as detectron2 plugins.

``import vision_plugins`` registers every architecture, dataset, mapper, evaluator and weight
converter in detectron2's / the project's registries (imports only; synthetic datasets are
generated lazily on first use). ``add_vision_plugins_config(cfg)`` adds every config key.
"""

__version__ = "0.3.0"

import warnings  # noqa: E402

# fvcore.nn.focal_loss and detectron2.modeling.box_regression call torch.jit.script when they are
# imported (below, through every architecture); torch deprecates it with a FutureWarning that
# every run printed. The call is theirs, not ours: ignore exactly that message, from the torch
# function that issues it. (Python shows a warning once per place it is issued, and that place is
# torch's, so later calls were silent anyway.)
warnings.filterwarnings(
    "ignore",
    message=r"`torch\.jit\.script` is deprecated",
    category=FutureWarning,
    module=r"torch\.jit\._script",
)

from . import (  # noqa: F401,E402  (registration: shared registries, then every ArchSpec)
    centernet,
    checkpoint,
    cornernet,
    cyclegan,
    data,
    densepose_uv,
    evaluation,
    fast_neural_style,
    mask_rcnn,
    pix2pix,
    pose_hourglass,
    retinaface,
    super_resolution,
    upsnet,
    vpsnet,
    yolact,
    yolact_edge,
)
from .config import add_vision_plugins_config  # noqa: E402

__all__ = ["add_vision_plugins_config", "__version__"]
