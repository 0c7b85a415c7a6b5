"""Compatibility layer: the detectron2 ``_C`` stand-in and its installer (run as scripts by
``make setup``; see install_detectron2.py)."""

import importlib

__all__ = ["detectron2_ops_kind"]


def detectron2_ops_kind():
    """How detectron2's ops are provided: 'compiled', 'stand-in' or 'missing (<error>)'."""
    try:
        ext = importlib.import_module("detectron2._C")
    except ImportError as e:
        return f"missing ({e})"
    if getattr(ext, "VISION_PLUGINS_STANDIN", False):
        return "stand-in (vision_plugins pure-Python detectron2._C; no compiled ops)"
    return f"compiled ({ext.__file__})"
