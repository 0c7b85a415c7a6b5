"""The converter registry behind ``tools/convert_weights.py``.

A converter maps an official state_dict (already unwrapped from its container) to the state_dict
of the matching vision_plugins model, with detectron2 parameter names. The output file is
``{"model": state_dict, "__author__": "vision_plugins", "matching_heuristics": False}``, which
``DetectionCheckpointer(model).load(path)`` loads by exact names.
"""

import os
import re
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
    "official_files",
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
    # Several official files (one per network, e.g. ``latest_net_G.pth`` + ``latest_net_D.pth``):
    # the role names; ``convert`` then takes ``{role: state_dict}`` (see ``official_files``).
    roles: tuple = ()


CONVERTERS = Registry("VP_CONVERTER")
CONVERTERS.__doc__ = "tools/convert_weights.py --arch NAME -> Converter"


def register_converter(
    name, description, container_keys=("state_dict", "model", "net"), signature=(), roles=()
):
    """Register ``fn(state_dict) -> state_dict`` as ``tools/convert_weights.py --arch name``.
    ``signature``: key prefixes that all occur in the official file (e.g.
    ``("backbone.layers.0.", "fpn.lat_layers.", "proto_net.")``, keys without ``module.``), so
    that loading the unconverted file suggests this converter; when several converters match,
    those with the longest signature are suggested. ``roles``: the converter takes several
    files, ``fn({role: state_dict})`` (:func:`official_files` names them). ``fn`` may return
    ``(state_dict, config)``: ``config`` ({key: value} config overrides the weights need) is
    stored in the output file under ``"config"`` and printed by the tool."""

    def deco(fn):
        CONVERTERS.register_as(
            name,
            Converter(name, description, fn, tuple(container_keys), tuple(signature), tuple(roles)),
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


def official_files(sources, roles, epoch="latest"):
    """``{role: path}`` of the official files of a multi-file converter. ``sources``: paths
    named as the official code saves them (``<epoch>_net_<ROLE>.pth``, e.g.
    ``latest_net_G_A.pth``), ``ROLE=path`` items, or one directory holding
    ``<epoch>_net_<ROLE>.pth`` files. A lone file whose name tells no role is the generator
    when the converter has one (role ``G``: e.g. ``RRDB_ESRGAN_x4.pth``); otherwise a file
    whose role cannot be told, a role given twice or an unknown role raises a
    ``CheckpointFormatError`` naming it."""
    if isinstance(sources, str):
        sources = [sources]
    items = []
    for src in sources:
        if "=" in src and not os.path.exists(src):
            role, path = src.split("=", 1)
            items.append((role, path))
        elif os.path.isdir(src):
            found = [
                (m.group(1), os.path.join(src, f))
                for f in sorted(os.listdir(src))
                for m in [re.fullmatch(rf"{re.escape(epoch)}_net_(\w+)\.pth", f)]
                if m and m.group(1) in roles
            ]
            if not found:
                raise CheckpointFormatError(
                    f"{src}: no {epoch}_net_<{'|'.join(roles)}>.pth file in this directory"
                )
            items.extend(found)
        else:
            m = re.search(r"_net_(\w+)\.pth$", os.path.basename(src))
            if not m and len(sources) == 1 and "G" in roles:
                items.append(("G", src))
            elif not m:
                raise CheckpointFormatError(
                    f"{src}: cannot tell which network it holds: name it <epoch>_net_<ROLE>.pth "
                    f"or pass ROLE=path (roles: {', '.join(roles)})"
                )
            else:
                items.append((m.group(1), src))
    files = {}
    for role, path in items:
        if role not in roles:
            raise CheckpointFormatError(f"{path}: unknown role {role!r}; roles: {', '.join(roles)}")
        if role in files:
            raise CheckpointFormatError(f"role {role!r} given twice: {files[role]} and {path}")
        files[role] = path
    return files


def convert_checkpoint(arch, src, dst, return_config=False):
    """Convert ``src`` (a path; for a multi-file converter, paths as :func:`official_files`
    takes) with the converter ``arch`` and save to ``dst``; returns the converted state_dict,
    and with ``return_config`` also the config overrides the weights need (``{}`` for most
    converters)."""
    if arch not in CONVERTERS:
        raise KeyError(f"unknown converter {arch!r}; available: {CONVERTERS.names()}")
    conv = CONVERTERS[arch]
    if conv.roles:
        files = official_files(src, conv.roles)
        state_dict = {
            role: load_official_checkpoint(path, conv.container_keys)
            for role, path in files.items()
        }
        where = ", ".join(files.values())
    else:
        if not isinstance(src, str):
            if len(src) != 1:
                raise CheckpointFormatError(f"--arch {arch} converts one file, got {len(src)}")
            src = src[0]
        state_dict = load_official_checkpoint(src, conv.container_keys)
        where = src
    try:
        out = conv.convert(state_dict)
    except KeyError as e:
        raise CheckpointFormatError(
            f"{where}: missing key {e} expected by the {arch!r} converter: is it the right file?"
        ) from None
    out, config = out if isinstance(out, tuple) else (out, {})
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    saved = {"model": out, "__author__": "vision_plugins", "matching_heuristics": False}
    if config:
        saved["config"] = dict(config)
    torch.save(saved, dst)
    return (out, config) if return_config else out


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


def dotted_config(values, meta_arch=None):
    """A ``configure(cfg)`` for :func:`model_shapes`: sets ``MODEL.META_ARCHITECTURE`` (if given)
    and every ``{"MODEL.GAN.NGF": 32, ...}`` value (the config a converter read off the weights)."""

    def configure(cfg):
        if meta_arch is not None:
            cfg.MODEL.META_ARCHITECTURE = meta_arch
        for key, value in values.items():
            node, _, leaf = key.rpartition(".")
            target = cfg
            for part in node.split("."):
                target = target[part]
            target[leaf] = value

    return configure


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
