"""Official Stacked Hourglass checkpoint -> detectron2 checkpoint of ``PoseHourglassBackbone``.

The official ``exp/<name>/checkpoint.pt`` (princeton-vl/pytorch_stacked_hourglass) is
``{"state_dict": Trainer.state_dict(), "optimizer": ..., "epoch": ...}`` whose keys are
``"model.module." + <PoseNet key>``. The converter unwraps ``state_dict``, strips the prefix and
keeps every key under its name with a ``backbone.`` prefix, the ``skip_layer`` convs that the
official forward never uses included (``PoseHourglassBackbone`` creates them too, so loading is
strict). ``num_batches_tracked`` is kept. The
network size (stacks, widths, joints) is read from the weights and every key is checked against
the backbone it describes, so a wrong or truncated file is rejected with the offending key.
"""

import re

import torch

from ..checkpoint import CheckpointFormatError, register_converter, strip_prefix
from .backbone import PoseHourglassBackbone

__all__ = ["convert_shg", "PREFIX"]

PREFIX = "backbone."
_OFFICIAL_PREFIX = "model.module."


def _required(state_dict, key):
    if key not in state_dict:
        raise CheckpointFormatError(
            f"missing key {key!r}: not an official Stacked Hourglass (PoseNet) checkpoint"
        )
    return state_dict[key]


def _reference_keys(state_dict):
    """{key: shape} of the PoseHourglassBackbone that ``state_dict`` describes."""
    stem = _required(state_dict, "pre.0.conv.weight")
    out = _required(state_dict, "outs.0.conv.weight")
    low1 = _required(state_dict, "hgs.0.0.low1.conv3.conv.weight")
    nstack = sum(1 for k in state_dict if re.fullmatch(r"outs\.\d+\.conv\.weight", k))
    with torch.device("meta"):
        ref = PoseHourglassBackbone(
            in_channels=stem.shape[1],
            nstack=nstack,
            inp_dim=out.shape[1],
            oup_dim=out.shape[0],
            increase=low1.shape[0] - out.shape[1],
        )
    return {k: tuple(v.shape) for k, v in ref.state_dict().items()}


@register_converter(
    "shg",
    "Stacked Hourglass (princeton-vl/pytorch_stacked_hourglass exp/<name>/checkpoint.pt) -> "
    "backbone.* of build_pose_hourglass_backbone (MODEL.POSE_HOURGLASS)",
    container_keys=("state_dict",),
    signature=("model.module.pre.", "model.module.hgs.", "model.module.outs."),
)
def convert_shg(state_dict):
    state_dict = strip_prefix(state_dict, _OFFICIAL_PREFIX)
    expected = _reference_keys(state_dict)
    out = {}
    for key, value in state_dict.items():
        if key in expected:
            if tuple(value.shape) != expected[key]:
                raise CheckpointFormatError(
                    f"key {key!r} has shape {tuple(value.shape)}, expected {expected[key]}"
                )
            out[PREFIX + key] = value
            continue
        raise CheckpointFormatError(f"unexpected key {key!r} in a Stacked Hourglass checkpoint")
    missing = [
        k for k in expected if PREFIX + k not in out and not k.endswith("num_batches_tracked")
    ]
    if missing:
        raise CheckpointFormatError(
            f"missing keys in a Stacked Hourglass checkpoint: {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}"
        )
    return out
