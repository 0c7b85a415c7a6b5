"""``add_vision_plugins_config``: every config key of the project, added to a detectron2 cfg.

The shared keys are :func:`add_engine_config`'s and those of the adders shared packages register
with :func:`register_config` (e.g. the translation evaluator's ``TEST.TRANSLATION``); each
architecture's come from its spec (``ArchSpec.add_config``). They only add new keys (under
``MODEL.<ARCH>`` / ``INPUT.<ARCH>``) and never change a detectron2 default.
"""

from detectron2.config import CfgNode as CN

from .spec import SPECS

__all__ = ["add_vision_plugins_config", "add_engine_config", "register_config"]

_SHARED_ADDERS = []


def register_config(adder):
    """Have :func:`add_vision_plugins_config` call ``adder(cfg)`` (keys of a shared package that
    sits above this module, such as an evaluator's). Returns ``adder`` (usable as a
    decorator)."""
    if adder not in _SHARED_ADDERS:
        _SHARED_ADDERS.append(adder)
    return adder


def add_engine_config(cfg):
    """Keys of the shared engine (mapper registry, bad images, validation loss, optimizer)."""
    # Name of the dataset mapper in vision_plugins.data.MAPPER_REGISTRY used for train and test.
    cfg.INPUT.DATASET_MAPPER_NAME = "DatasetMapper"
    # Training only: skip an image file the decoder cannot read (missing, empty, truncated,
    # corrupt, unsupported pixel type) -- another sample is drawn, the skip is counted in the log
    # -- instead of stopping the run with an error naming the file (False, the default).
    cfg.DATALOADER.SKIP_UNREADABLE_IMAGES = False
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
    for adder in _SHARED_ADDERS:
        adder(cfg)
    added = []
    for spec in SPECS.values():
        if spec.add_config is not None and spec.add_config not in added:
            spec.add_config(cfg)
            added.append(spec.add_config)
    if frozen:
        cfg.freeze()
    return cfg
