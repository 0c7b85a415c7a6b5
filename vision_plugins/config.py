"""``add_vision_plugins_config``: every config key of the project, added to a detectron2 cfg.

Each architecture contributes an ``add_<arch>_config(cfg)`` listed in ``_ARCH_CONFIGS``; they only
add new keys (under ``MODEL.<ARCH>`` / ``INPUT.<ARCH>``) and never change a detectron2 default.
"""

from detectron2.config import CfgNode as CN

from .centernet.config import add_centernet_oap_config
from .cornernet.config import add_cornernet_config
from .densepose_uv.config import add_densepose_uv_config
from .pose_hourglass.config import add_pose_hourglass_config
from .retinaface.config import add_retinaface_config
from .upsnet.config import add_upsnet_config
from .vpsnet.config import add_vpsnet_config
from .yolact.config import add_yolact_config
from .yolact_edge.config import add_yolact_edge_config

__all__ = ["add_vision_plugins_config", "add_engine_config"]

# add_<arch>_config functions, one per architecture
_ARCH_CONFIGS = [
    add_centernet_oap_config,
    add_cornernet_config,
    add_densepose_uv_config,
    add_pose_hourglass_config,
    add_retinaface_config,
    add_upsnet_config,
    add_vpsnet_config,
    add_yolact_config,
    add_yolact_edge_config,
]


def add_engine_config(cfg):
    """Keys of the shared engine (mapper registry, validation loss, visualisation)."""
    # Name of the dataset mapper in vision_plugins.data.MAPPER_REGISTRY used for train and test.
    cfg.INPUT.DATASET_MAPPER_NAME = "DatasetMapper"
    # Validation-loss hook: every PERIOD iterations, the mean of each loss over at most
    # MAX_BATCHES batches of each DATASETS.TEST set is logged as `val_<loss>`. 0 disables it.
    cfg.TEST.VAL_LOSS = CN()
    cfg.TEST.VAL_LOSS.PERIOD = 0
    cfg.TEST.VAL_LOSS.MAX_BATCHES = 20
    # Optimizer of vision_plugins.engine.Trainer: "SGD" (detectron2's) or "ADAM" (the official
    # optimizer of e.g. Stacked Hourglass and CenterNet); both use SOLVER.BASE_LR/WEIGHT_DECAY.
    cfg.SOLVER.OPTIMIZER = "SGD"


def add_vision_plugins_config(cfg):
    """Add every vision_plugins key to ``cfg`` (in place). Idempotent; keeps cfg's frozen state."""
    if "DATASET_MAPPER_NAME" in cfg.INPUT:  # already added (keys are added all at once)
        return cfg
    frozen = cfg.is_frozen()
    cfg.defrost()
    add_engine_config(cfg)
    for add in _ARCH_CONFIGS:
        add(cfg)
    if frozen:
        cfg.freeze()
    return cfg
