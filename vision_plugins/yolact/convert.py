"""Official YOLACT / YOLACT++ weights (dbolya/yolact ``weights/*.pth``) -> ``YOLACT`` model.

The official file is a plain state_dict. Renaming:

- ``backbone.conv1/bn1/layers.i.*`` -> ``backbone.bottom_up.*`` (detectron2 ResNet names, via
  the torchvision rules: ``layers.i`` is torchvision's ``layer{i+1}``);
- YOLACT++ deformable blocks: ``conv2.weight``, ``conv2.bias`` and ``conv2.conv_offset_mask.*``
  keep their names (the bias stays in the deformable conv: see ``DeformBottleneckBlock`` for why
  it is not folded into the BN);
- ``fpn.{lat,pred,downsample}_layers.*`` -> ``backbone.*`` (extra ``downsample_layers`` beyond
  P6/P7 are dropped, as the official ``load_weights`` does; legacy ``backbone.layer*`` keys too);
- ``proto_net.*``, ``semantic_seg_conv.*`` unchanged; ``prediction_layers.0.*`` -> ``head.*``;
  ``maskiou_net.maskiou_net.*`` -> ``maskiou_net.*``.

The result is checked key by key and shape by shape against the YOLACT model the weights
describe (depth, classes, anchors per location, deformable blocks), built on the meta device;
``yolact`` refuses YOLACT++ weights and vice versa, naming the key.
"""

import re

from ..checkpoint import CheckpointFormatError, check_converted, register_converter
from ..checkpoint.registry import model_shapes
from ..checkpoint.torchvision_resnet import PREFIX as RESNET_PREFIX
from ..checkpoint.torchvision_resnet import torchvision_resnet_key

__all__ = [
    "convert_yolact",
    "convert_yolact_plus",
    "official_to_ours",
    "reference_config",
]

_DEPTHS = {6: 50, 23: 101, 36: 152}  # blocks in layers.2 -> ResNet depth


def _backbone_key(key):
    """``backbone.*`` official key -> our key (None: drop)."""
    rest = key[len("backbone.") :]
    m = re.fullmatch(r"layers\.(\d)\.(\d+)\.conv2\.((conv_offset_mask\.)?(weight|bias))", rest)
    if m and (m.group(4) or m.group(5) == "bias"):  # the deformable conv's own parameters
        return f"{RESNET_PREFIX}res{int(m.group(1)) + 2}.{m.group(2)}.conv2.{m.group(3)}"
    if rest.startswith("layer") and not rest.startswith("layers"):
        return None  # legacy keys the official loader drops
    tv = re.sub(r"^layers\.(\d)\.", lambda m: f"layer{int(m.group(1)) + 1}.", rest)
    new = torchvision_resnet_key(tv, keep_num_batches_tracked=True)
    if not new:
        raise CheckpointFormatError(f"unexpected backbone key {key!r} in a YOLACT checkpoint")
    return RESNET_PREFIX + new


def official_to_ours(state_dict):
    """Rename; no checking."""
    out = {}
    for key, value in state_dict.items():
        if key.startswith("backbone."):
            new = _backbone_key(key)
        elif key.startswith("fpn."):
            m = re.fullmatch(r"fpn\.downsample_layers\.(\d+)\.(weight|bias)", key)
            if m and int(m.group(1)) >= 2:
                continue
            new = "backbone." + key[len("fpn.") :]
        elif key.startswith("prediction_layers.0."):
            new = "head." + key[len("prediction_layers.0.") :]
        elif key.startswith("maskiou_net.maskiou_net."):
            new = "maskiou_net." + key[len("maskiou_net.maskiou_net.") :]
        elif key.startswith(("proto_net.", "semantic_seg_conv.")):
            new = key
        else:
            raise CheckpointFormatError(f"unexpected key {key!r} in a YOLACT checkpoint")
        if new is not None:
            out[new] = value
    return out


def _required(state_dict, key):
    if key not in state_dict:
        raise CheckpointFormatError(f"missing key {key!r}: not an official YOLACT checkpoint")
    return state_dict[key]


def reference_config(state_dict, plus):
    """``configure(cfg)``: sets a cfg to the YOLACT model the official ``state_dict`` describes
    (for ``checkpoint.model_shapes``)."""
    from ..layers.resnet import dcn_blocks

    blocks = [
        1 + max(int(m.group(2)) for k in state_dict
                if (m := re.match(rf"backbone\.layers\.({s})\.(\d+)\.", k)))
        for s in range(4)
    ]  # fmt: skip
    if blocks[2] not in _DEPTHS:
        raise CheckpointFormatError(f"unsupported ResNet: {blocks} blocks per stage")
    conf = _required(state_dict, "prediction_layers.0.conf_layer.weight")
    bbox = _required(state_dict, "prediction_layers.0.bbox_layer.weight")
    proto = _required(state_dict, "proto_net.10.weight")
    num_anchors = bbox.shape[0] // 4
    dcn = None
    if plus:  # the official rule, read back from which blocks carry a deformable conv
        has = [[f"backbone.layers.{s}.{i}.conv2.conv_offset_mask.weight" in state_dict
                for i in range(n)] for s, n in enumerate(blocks)]  # fmt: skip
        for interval in (1, 2, 3, 4):
            stages = [sum(h) and n - next(i for i, v in enumerate(h) if v) for h, n in
                      zip(has, blocks)]  # fmt: skip
            if dcn_blocks(blocks, stages, interval) == has:
                dcn = stages, interval
                break
        else:
            raise CheckpointFormatError("deformable blocks in an unsupported arrangement")

    def configure(cfg):
        c = cfg.MODEL.YOLACT
        cfg.MODEL.META_ARCHITECTURE = "YOLACT"
        cfg.MODEL.BACKBONE.NAME = "build_yolact_resnet_fpn_backbone"
        cfg.MODEL.BACKBONE.FREEZE_AT = 0
        cfg.MODEL.RESNETS.NORM = "BN"
        cfg.MODEL.RESNETS.DEPTH = _DEPTHS[blocks[2]]
        c.NUM_CLASSES = conf.shape[0] // num_anchors - 1
        c.NUM_PROTOTYPES = proto.shape[0]
        c.SCALES_PER_OCTAVE = num_anchors // 3 if num_anchors % 3 == 0 else num_anchors
        c.ASPECT_RATIOS = [1.0, 0.5, 2.0] if num_anchors % 3 == 0 else [1.0]
        c.SEMSEG_ON = "semantic_seg_conv.weight" in state_dict
        c.MASKIOU.ENABLED = plus
        if dcn is not None:
            c.DCN_STAGES, c.DCN_INTERVAL = dcn

    return configure


def _check(state_dict, plus, name):
    if plus and not any(k.startswith("maskiou_net.") for k in state_dict):
        raise CheckpointFormatError(
            "no 'maskiou_net.*' keys: a YOLACT checkpoint, convert it with --arch yolact"
        )
    if not plus:
        for key in state_dict:
            if key.startswith("maskiou_net.") or key.endswith("conv_offset_mask.weight"):
                raise CheckpointFormatError(
                    f"key {key!r} belongs to YOLACT++: convert with --arch yolact_plus"
                )
    expected = model_shapes(reference_config(state_dict, plus))
    return check_converted(official_to_ours(state_dict), expected, name)


@register_converter(
    "yolact",
    "YOLACT (dbolya/yolact weights/yolact_*.pth) -> YOLACT meta-arch (MODEL.YOLACT)",
    container_keys=("state_dict", "model"),
    signature=("backbone.layers.0.", "fpn.lat_layers.", "proto_net.", "prediction_layers.0."),
)
def convert_yolact(state_dict):
    return _check(state_dict, False, "YOLACT")


@register_converter(
    "yolact_plus",
    "YOLACT++ (dbolya/yolact weights/yolact_plus_*.pth) -> YOLACT meta-arch with "
    "MODEL.YOLACT.MASKIOU.ENABLED and deformable blocks",
    container_keys=("state_dict", "model"),
    signature=(
        "backbone.layers.0.", "fpn.lat_layers.", "proto_net.", "prediction_layers.0.",
        "maskiou_net.",
    ),  # fmt: skip
)
def convert_yolact_plus(state_dict):
    return _check(state_dict, True, "YOLACT++")
