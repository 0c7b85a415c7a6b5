"""torchvision ImageNet ResNet (resnet18/34/50/101/152 ``.pth``) -> detectron2 ResNet backbone.

Gives the R-18/R-50 configs of vision_plugins an ImageNet initialisation from a local file
(detectron2's model zoo has no R-18). The converted backbone equals torchvision's network exactly
when built with ``MODEL.RESNETS.STRIDE_IN_1X1=False`` (torchvision puts the stride in the 3×3
conv), ``MODEL.PIXEL_MEAN/STD`` = ImageNet RGB ×255 and ``INPUT.FORMAT=RGB``.
"""

import re

from .registry import CheckpointFormatError, register_converter

__all__ = ["PREFIX", "torchvision_resnet_key", "convert_torchvision_resnet"]

PREFIX = "backbone.bottom_up."
_BN = {"weight", "bias", "running_mean", "running_var"}


def torchvision_resnet_key(key, keep_num_batches_tracked=False):
    """torchvision name -> detectron2 ResNet name (without PREFIX); None = drop (``fc``, and
    ``num_batches_tracked`` unless ``keep_num_batches_tracked``), False = not a torchvision
    ResNet key."""
    if key.endswith(".num_batches_tracked") and keep_num_batches_tracked:
        stem = key[: -len("num_batches_tracked")]
        new = torchvision_resnet_key(stem + "running_mean")
        return new[: -len("running_mean")] + "num_batches_tracked" if new else new
    if key.startswith("fc.") or key.endswith("num_batches_tracked"):
        return None  # classifier; BN counters (BatchNorm re-creates them on load)
    m = re.fullmatch(r"conv1\.weight", key)
    if m:
        return "stem.conv1.weight"
    m = re.fullmatch(r"bn1\.(\w+)", key)
    if m and m.group(1) in _BN:
        return f"stem.conv1.norm.{m.group(1)}"
    m = re.fullmatch(r"layer(\d)\.(\d+)\.(.+)", key)
    if not m:
        return False
    stage, block, rest = int(m.group(1)) + 1, m.group(2), m.group(3)
    head = f"res{stage}.{block}."
    m = re.fullmatch(r"conv(\d)\.weight", rest)
    if m:
        return head + f"conv{m.group(1)}.weight"
    m = re.fullmatch(r"bn(\d)\.(\w+)", rest)
    if m and m.group(2) in _BN:
        return head + f"conv{m.group(1)}.norm.{m.group(2)}"
    if rest == "downsample.0.weight":
        return head + "shortcut.weight"
    m = re.fullmatch(r"downsample\.1\.(\w+)", rest)
    if m and m.group(1) in _BN:
        return head + f"shortcut.norm.{m.group(1)}"
    return False


@register_converter(
    "torchvision_resnet",
    "torchvision ImageNet ResNet-18/34/50/101/152 -> backbone.bottom_up.* of a detectron2 "
    "ResNet(-FPN) model (STRIDE_IN_1X1=False, RGB, ImageNet mean/std)",
    signature=("conv1.", "bn1.", "layer1.", "layer4.", "fc."),
)
def convert_torchvision_resnet(state_dict):
    if "conv1.weight" not in state_dict or "layer1.0.conv1.weight" not in state_dict:
        raise CheckpointFormatError(
            "not a torchvision ResNet state_dict: 'conv1.weight' / 'layer1.0.conv1.weight' missing"
        )
    out = {}
    for key, value in state_dict.items():
        new = torchvision_resnet_key(key)
        if new is False:
            raise CheckpointFormatError(
                f"unexpected key {key!r} in a torchvision ResNet state_dict"
            )
        if new is not None:
            out[PREFIX + new] = value
    return out
