"""biubug6/Pytorch_Retinaface checkpoints (``mobilenet0.25_Final.pth``, ``Resnet50_Final.pth``)
-> ``RetinaFace`` model.

The reference files are plain state dicts, the ResNet one saved from ``DataParallel`` (a
``module.`` prefix, stripped here as the reference ``load_model`` does). Renaming:
``body.*`` -> ``backbone.bottom_up.*`` (MobileNet: same names; ResNet: torchvision -> detectron2
names), ``fpn.*`` and ``ssh{1,2,3}.*`` -> ``backbone.*``, ``ClassHead.i.conv1x1`` /
``BboxHead.i.conv1x1`` / ``LandmarkHead.i.conv1x1`` -> ``head.{class,bbox,landmark}_heads.i``.
Every key and shape is checked against the model the weights describe (built on the meta
device); errors name the key.
"""

import re

from ..checkpoint import (
    CheckpointFormatError,
    check_converted,
    register_converter,
    strip_prefix,
)
from ..checkpoint.registry import model_shapes
from ..checkpoint.torchvision_resnet import PREFIX as RESNET_PREFIX
from ..checkpoint.torchvision_resnet import torchvision_resnet_key

__all__ = ["convert_retinaface_mnet", "convert_retinaface_r50", "reference_to_ours"]

_HEADS = {"ClassHead": "class_heads", "BboxHead": "bbox_heads", "LandmarkHead": "landmark_heads"}


def reference_to_ours(state_dict, resnet):
    out = {}
    for key, value in strip_prefix(state_dict, "module.").items():
        m = re.fullmatch(r"(ClassHead|BboxHead|LandmarkHead)\.(\d)\.conv1x1\.(weight|bias)", key)
        if m:
            out[f"head.{_HEADS[m.group(1)]}.{m.group(2)}.{m.group(3)}"] = value
        elif key.startswith("fpn."):
            out["backbone." + key[len("fpn.") :]] = value
        elif re.match(r"ssh\d\.", key):
            out["backbone." + key] = value
        elif key.startswith("body.") and not resnet:
            out[RESNET_PREFIX + key[len("body.") :]] = value
        elif key.startswith("body.") and resnet:
            new = torchvision_resnet_key(key[len("body.") :], keep_num_batches_tracked=True)
            if not new:
                raise CheckpointFormatError(f"unexpected key {key!r} in a RetinaFace checkpoint")
            out[RESNET_PREFIX + new] = value
        else:
            raise CheckpointFormatError(f"unexpected key {key!r} in a RetinaFace checkpoint")
    return out


def _convert(state_dict, resnet, name):
    state_dict = strip_prefix(state_dict, "module.")
    marker = "body.conv1.weight" if resnet else "body.stage1.0.0.weight"
    if marker not in state_dict:
        other = "retinaface_mnet" if resnet else "retinaface_r50"
        raise CheckpointFormatError(
            f"missing key {marker!r}: not a {name} checkpoint (try --arch {other})"
        )
    lateral = state_dict.get("fpn.output1.0.weight")
    if lateral is None:
        raise CheckpointFormatError(
            "missing key 'fpn.output1.0.weight': not a RetinaFace checkpoint"
        )

    def configure(cfg):
        cfg.MODEL.META_ARCHITECTURE = "RetinaFace"
        cfg.MODEL.RETINAFACE.OUT_CHANNELS = lateral.shape[0]
        if resnet:
            cfg.MODEL.BACKBONE.NAME = "build_retinaface_resnet_backbone"
            cfg.MODEL.BACKBONE.FREEZE_AT = 0
            cfg.MODEL.RESNETS.NORM = "BN"
            cfg.MODEL.RESNETS.STRIDE_IN_1X1 = False
            cfg.MODEL.RETINAFACE.IN_FEATURES = ["res3", "res4", "res5"]
        else:
            cfg.MODEL.BACKBONE.NAME = "build_retinaface_mnet_backbone"
        cfg.MODEL.ANCHOR_GENERATOR.SIZES = [[16, 32], [64, 128], [256, 512]]
        cfg.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS = [[1.0]]

    expected = model_shapes(configure)
    return check_converted(reference_to_ours(state_dict, resnet), expected, name)


@register_converter(
    "retinaface_mnet",
    "RetinaFace MobileNet-0.25 (biubug6/Pytorch_Retinaface mobilenet0.25_Final.pth) -> "
    "RetinaFace meta-arch with build_retinaface_mnet_backbone",
    container_keys=("state_dict",),
    signature=("body.stage1.", "fpn.", "ssh1.", "ClassHead.", "LandmarkHead."),
)
def convert_retinaface_mnet(state_dict):
    return _convert(state_dict, False, "RetinaFace MobileNet-0.25")


@register_converter(
    "retinaface_r50",
    "RetinaFace ResNet-50 (biubug6/Pytorch_Retinaface Resnet50_Final.pth) -> RetinaFace "
    "meta-arch with build_retinaface_resnet_backbone",
    container_keys=("state_dict",),
    signature=("body.conv1.", "body.layer1.", "fpn.", "ssh1.", "ClassHead.", "LandmarkHead."),
)
def convert_retinaface_r50(state_dict):
    return _convert(state_dict, True, "RetinaFace ResNet-50")
