"""Converters: official checkpoints -> detectron2 checkpoints of vision_plugins models."""

from . import torchvision_resnet  # noqa: F401  (registration)
from .registry import (  # noqa: F401
    CONVERTERS,
    CheckpointFormatError,
    check_converted,
    convert_checkpoint,
    load_official_checkpoint,
    register_converter,
    strip_prefix,
)
