"""The converter registry behind ``tools/convert_weights.py``.

A converter maps an official state_dict (already unwrapped from its container) to the state_dict
of the matching vision_plugins model, with detectron2 parameter names. The output file is
``{"model": state_dict, "__author__": "vision_plugins", "matching_heuristics": False}``, which
``DetectionCheckpointer(model).load(path)`` loads by exact names.
"""

import os
from dataclasses import dataclass
from typing import Callable, Dict

import torch

from ..registry import Registry

__all__ = [
    "CONVERTERS",
    "CheckpointFormatError",
    "Converter",
    "register_converter",
    "load_official_checkpoint",
    "strip_prefix",
    "convert_checkpoint",
    "check_converted",
    "model_shapes",
]


class CheckpointFormatError(ValueError):
    """The file is not the official checkpoint the converter expects (names file and key)."""


@dataclass(frozen=True)
class Converter:
    name: str
    description: str
    convert: Callable[[Dict[str, torch.Tensor]], Dict[str, torch.Tensor]]
    # keys tried, in order, to find the state_dict inside the saved object
    container_keys: tuple = ("state_dict", "model", "net")
    # key prefixes that together identify the official file (after unwrapping the container and
    # removing a ``module.`` prefix): ``Checkpointer`` suggests this converter when such a file
    # is given as MODEL.WEIGHTS. Empty: never suggested.
    signature: tuple = ()


CONVERTERS = Registry("VP_CONVERTER")
CONVERTERS.__doc__ = "tools/convert_weights.py --arch NAME -> Converter"


def register_converter(
    name, description, container_keys=("state_dict", "model", "net"), signature=()
):
    """Register ``fn(state_dict) -> state_dict`` as ``tools/convert_weights.py --arch name``.
    ``signature``: key prefixes that all occur in the official file (e.g.
    ``("backbone.layers.0.", "fpn.lat_layers.", "proto_net.")``, keys without ``module.``), so
    that loading the unconverted file suggests this converter; when several converters match,
    those with the longest signature are suggested."""

    def deco(fn):
        CONVERTERS.register_as(
            name,
            Converter(name, description, fn, tuple(container_keys), tuple(signature)),
        )
        return fn

    return deco


def strip_prefix(state_dict, prefix):
    """Remove ``prefix`` (e.g. ``"module."`` from DataParallel) from every key that has it."""
    n = len(prefix)
    return {(k[n:] if k.startswith(prefix) else k): v for k, v in state_dict.items()}


def load_official_checkpoint(path, container_keys=("state_dict", "model", "net")):
    """``torch.load(path, weights_only=True)`` on CPU, unwrapped to a flat {name: tensor} dict."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, zip errors, disallowed globals ...
        raise CheckpointFormatError(
            f"{path}: cannot be read with torch.load(weights_only=True): {type(e).__name__}: {e}"
        ) from e
    for key in container_keys:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj:
        raise CheckpointFormatError(
            f"{path}: expected a state_dict (name -> tensor), got {type(obj)}"
        )
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointFormatError(
            f"{path}: entries are not tensors: {bad[:5]}{' ...' if len(bad) > 5 else ''}"
        )
    return strip_prefix(obj, "module.")


def convert_checkpoint(arch, src, dst):
    """Convert ``src`` with the converter ``arch`` and save to ``dst``; returns the state_dict."""
    if arch not in CONVERTERS:
        raise KeyError(f"unknown converter {arch!r}; available: {CONVERTERS.names()}")
    conv = CONVERTERS[arch]
    state_dict = load_official_checkpoint(src, conv.container_keys)
    try:
        out = conv.convert(state_dict)
    except KeyError as e:
        raise CheckpointFormatError(
            f"{src}: missing key {e} expected by the {arch!r} converter: is it the right file?"
        ) from None
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    torch.save({"model": out, "__author__": "vision_plugins", "matching_heuristics": False}, dst)
    return out


def check_converted(converted, expected, name):
    """Raise ``CheckpointFormatError`` naming the key when ``converted`` ({key: tensor}) does
    not match ``expected`` ({key: shape} of the target model): an unexpected key, a wrong shape
    or missing keys (``num_batches_tracked`` may be missing)."""
    for key, value in converted.items():
        if key not in expected:
            raise CheckpointFormatError(f"unexpected key {key!r} (converted) in a {name} file")
        if tuple(value.shape) != tuple(expected[key]):
            raise CheckpointFormatError(
                f"key {key!r} has shape {tuple(value.shape)}, expected {tuple(expected[key])}"
            )
    missing = [k for k in expected if k not in converted and not k.endswith("num_batches_tracked")]
    if missing:
        more = " ..." if len(missing) > 5 else ""
        raise CheckpointFormatError(f"missing keys in a {name} checkpoint: {missing[:5]}{more}")
    return converted


def model_shapes(configure):
    """{key: shape} of the model built on the meta device (no memory, no initialisation) from
    ``detectron2.config.get_cfg()`` with every vision_plugins key, edited by ``configure(cfg)``
    (which sets ``MODEL.META_ARCHITECTURE`` and the sizes read from the official weights)."""
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    # imported here: vision_plugins.config imports every architecture, whose converters import
    # this module
    from ..config import add_vision_plugins_config

    cfg = add_vision_plugins_config(get_cfg())
    configure(cfg)
    cfg.MODEL.DEVICE = "meta"
    with torch.device("meta"):
        model = build_model(cfg)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}
