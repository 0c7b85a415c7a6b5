"""Converters: official checkpoints -> detectron2 checkpoints of vision_plugins models; the
``Checkpointer`` every weights load of the project goes through."""

from . import torchvision_resnet  # noqa: F401  (registration)
from .checkpointer import (  # noqa: F401
    Checkpointer,
    CheckpointLoadError,
    UnreadableCheckpointError,
    UnsafeCheckpointError,
    WeightsMismatchError,
)
from .registry import (  # noqa: F401
    CONVERTERS,
    CheckpointFormatError,
    check_converted,
    convert_checkpoint,
    load_official_checkpoint,
    register_converter,
    strip_prefix,
)
