"""Official CornerNet-family checkpoints -> ``CornerNet`` / ``CenterNetTriplet``.

- ``cornernet``: princeton-vl/CornerNet ``CornerNet_500000.pkl`` (a raw ``state_dict`` of the
  DataParallel-wrapped model: every key starts with ``module.``);
- ``cornernet_lite``: princeton-vl/CornerNet-Lite's ``CornerNet`` (same weights, renamed:
  ``hg.{pre,hgs,cnvs,inters,inters_,cnvs_}``, ``{tl,br}_modules``, ``{tl,br}_offs``);
- ``centernet_triplet``: Duankaiwen/CenterNet ``CenterNet-104_480000.pkl`` (CornerNet keys plus
  the cascade ``look_conv*`` / ``P*_look_conv``, ``ct_cnvs``, ``ct_heats``, ``ct_regrs``).

The hourglass keys go under ``backbone.``; everything else keeps its official name.
``num_batches_tracked`` may be absent (torch 0.4.0 files). Keys and shapes are checked against
the model the weights describe (stacks and classes read from the file, HG-104 widths), built on
the meta device; errors name the key.
"""

import re

from ..checkpoint import CheckpointFormatError, check_converted, register_converter, strip_prefix
from ..checkpoint.registry import model_shapes

__all__ = ["convert_cornernet", "convert_cornernet_lite", "convert_centernet_triplet",
           "hourglass_key"]  # fmt: skip

_BACKBONE = ("pre.", "kps.", "cnvs.", "inters.", "inters_.", "cnvs_.")
_LITE = [(r"^hg\.hgs\.", "kps."), (r"^hg\.", ""), (r"^(tl|br)_modules\.", r"\1_cnvs."),
         (r"^(tl|br)_offs\.", r"\1_regrs.")]  # fmt: skip


def hourglass_key(key):
    """``backbone.<key>`` for the hourglass keys of the official layout, else ``None``."""
    return "backbone." + key if key.startswith(_BACKBONE) else None


def _stacks(state_dict, name):
    ids = {int(k.split(".")[1]) for k in state_dict if k.startswith("kps.")}
    if not ids:
        raise CheckpointFormatError(f"no 'kps.*' (hourglass) key: not a {name} checkpoint")
    return max(ids) + 1


def reference_shapes(meta_arch, state_dict, heat_key, cfg_fn=None):
    """{key: shape} of ``meta_arch`` built on the meta device for the stacks and classes of the
    (official-layout) ``state_dict``; ``cfg_fn(cfg)`` may adjust the config."""
    if heat_key not in state_dict:
        raise CheckpointFormatError(f"missing key {heat_key!r}")
    stacks = _stacks(state_dict, meta_arch)
    num_classes = int(state_dict[heat_key].shape[0])

    def configure(cfg):
        cfg.MODEL.META_ARCHITECTURE = meta_arch
        cfg.MODEL.BACKBONE.NAME = "build_hourglass104_backbone"
        cfg.MODEL.HOURGLASS.NUM_STACKS = stacks
        cfg.MODEL.CORNERNET.NUM_CLASSES = num_classes
        if cfg_fn is not None:
            cfg_fn(cfg)

    return model_shapes(configure)


def _convert(state_dict, meta_arch, name):
    state_dict = strip_prefix(state_dict, "module.")
    has_center = any(k.startswith("ct_cnvs.") for k in state_dict)
    if has_center != (meta_arch == "CenterNetTriplet"):
        other = "centernet_triplet" if has_center else "cornernet"
        raise CheckpointFormatError(f"not a {name} checkpoint: convert with --arch {other}")
    out = {}
    for key, value in state_dict.items():
        out[hourglass_key(key) or key] = value
    expected = reference_shapes(meta_arch, state_dict, "tl_heats.0.1.weight")
    return check_converted(out, expected, name)


@register_converter(
    "cornernet",
    "CornerNet (princeton-vl/CornerNet, CornerNet_500000.pkl) -> CornerNet with "
    "build_hourglass104_backbone",
    signature=("pre.", "kps.", "tl_heats.", "br_heats.", "tl_tags."),
)
def convert_cornernet(state_dict):
    return _convert(state_dict, "CornerNet", "CornerNet")


@register_converter(
    "cornernet_lite",
    "CornerNet from princeton-vl/CornerNet-Lite (core/models/CornerNet.py, same weights as "
    "CornerNet renamed) -> CornerNet with build_hourglass104_backbone",
    signature=("hg.hgs.", "tl_modules.", "tl_heats.", "tl_offs."),
)
def convert_cornernet_lite(state_dict):
    state_dict = strip_prefix(state_dict, "module.")
    if not any(k.startswith("hg.hgs.") for k in state_dict):
        raise CheckpointFormatError("no 'hg.hgs.*' key: not a CornerNet-Lite CornerNet checkpoint")
    if any(k.startswith("att_modules.") for k in state_dict):
        raise CheckpointFormatError("a CornerNet-Saccade / Squeeze checkpoint is not supported: "
                                    "only CornerNet-Lite's CornerNet")  # fmt: skip
    renamed = {}
    for key, value in state_dict.items():
        for pattern, repl in _LITE:
            key = re.sub(pattern, repl, key)
        renamed[key] = value
    return _convert(renamed, "CornerNet", "CornerNet-Lite CornerNet")


@register_converter(
    "centernet_triplet",
    "CenterNet keypoint triplets (Duankaiwen/CenterNet, CenterNet-104_480000.pkl) -> "
    "CenterNetTriplet with build_hourglass104_backbone",
    signature=("pre.", "kps.", "tl_heats.", "br_heats.", "ct_heats.", "ct_cnvs."),
)
def convert_centernet_triplet(state_dict):
    return _convert(state_dict, "CenterNetTriplet", "CenterNet-Triplet")
