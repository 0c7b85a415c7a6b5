"""TorchScript exporters (``tools/export_model.py``), registered by meta-architecture."""

from . import yolact_edge  # noqa: F401  (registration)
from .registry import EXPORTERS, register_exporter  # noqa: F401
