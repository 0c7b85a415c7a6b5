"""Official CenterNet (objects as points) checkpoints -> ``CenterNetOAP``.

``{'epoch', 'state_dict'[, 'optimizer']}`` (a ``module.`` prefix is stripped, as the official
``load_model`` does).

- ResNet (``res_18``, ``resdcn_18``): ``conv1/bn1/layer1-4`` -> ``backbone.bottom_up.*``
  (torchvision -> detectron2 names), ``deconv_layers.*`` -> ``backbone.deconv_layers.*`` (the
  DCN keeps its DCNv2 names), heads ``{hm,wh,reg}.{0,2}`` -> ``{hm,wh,reg}.0.{0.conv,1}``.
- Hourglass (``hourglass``): CornerNet's hourglass keys -> ``backbone.*``, per-stack heads
  ``{hm,wh,reg}.{s}.{0.conv,1}`` unchanged.

Keys and shapes are checked against the model the weights describe (built on the meta device);
errors name the key.
"""

from ..checkpoint import (
    CheckpointFormatError,
    check_converted,
    register_converter,
    strip_prefix,
)
from ..checkpoint.registry import model_shapes
from ..checkpoint.torchvision_resnet import PREFIX as RESNET_PREFIX
from ..checkpoint.torchvision_resnet import torchvision_resnet_key

__all__ = ["convert_centernet_oap_hg", "convert_centernet_oap_resnet", "official_to_ours"]

# ResNet heads: official Sequential(conv3x3, ReLU, conv1x1) -> our single-stack KPHead
_RESNET_HEAD = {"0": "0.0.conv", "2": "0.1"}


def official_to_ours(state_dict):
    out = {}
    for key, value in strip_prefix(state_dict, "module.").items():
        if key.startswith(("hm.", "wh.", "reg.")):
            head, layer, rest = key.split(".", 2)
            if layer not in _RESNET_HEAD:
                raise CheckpointFormatError(f"unexpected key {key!r} in a CenterNet checkpoint")
            out[f"{head}.{_RESNET_HEAD[layer]}.{rest}"] = value
        elif key.startswith("deconv_layers."):
            out["backbone." + key] = value
        else:
            new = torchvision_resnet_key(key, keep_num_batches_tracked=True)
            if not new:
                raise CheckpointFormatError(f"unexpected key {key!r} in a CenterNet checkpoint")
            out[RESNET_PREFIX + new] = value
    return out


def _reference_shapes(state_dict, dcn):
    hm = state_dict.get("hm.2.weight")
    if hm is None:
        raise CheckpointFormatError("missing key 'hm.2.weight': not a CenterNet ctdet checkpoint")
    blocks = {}
    for i in range(1, 5):
        ids = [int(k.split(".")[1]) for k in state_dict if k.startswith(f"layer{i}.")]
        blocks[i] = 1 + max(ids, default=-1)
    bottleneck = "layer1.0.conv3.weight" in state_dict
    depth = {(2, 2, 2, 2): 18, (3, 4, 6, 3): 50 if bottleneck else 34,
             (3, 4, 23, 3): 101}.get(tuple(blocks.values()))  # fmt: skip
    if depth is None:
        raise CheckpointFormatError(f"unsupported ResNet: {list(blocks.values())} blocks per stage")
    step = 6 if dcn else 3
    channels = [int(state_dict[f"deconv_layers.{i * step + step - 3}.weight"].shape[1])
                for i in range(3)]  # fmt: skip

    def configure(cfg):
        cfg.MODEL.META_ARCHITECTURE = "CenterNetOAP"
        cfg.MODEL.BACKBONE.NAME = "build_centernet_resnet_backbone"
        cfg.MODEL.BACKBONE.FREEZE_AT = 0
        cfg.MODEL.RESNETS.DEPTH = depth
        cfg.MODEL.RESNETS.NORM = "BN"
        cfg.MODEL.RESNETS.STRIDE_IN_1X1 = False
        cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64 if depth < 50 else 256
        c = cfg.MODEL.CENTERNET_OAP
        c.NUM_CLASSES, c.HEAD_CONV = hm.shape[0], hm.shape[1]
        c.DECONV_CHANNELS, c.DECONV_DCN = channels, dcn

    return model_shapes(configure)


@register_converter(
    "centernet_oap_hg",
    "CenterNet objects-as-points 'hourglass' (xingyizhou/CenterNet ctdet_coco_hg.pth) -> "
    "CenterNetOAP with build_hourglass104_backbone",
    container_keys=("state_dict",),
    signature=("pre.", "kps.", "cnvs.", "hm.", "wh.", "reg."),
)
def convert_centernet_oap_hg(state_dict):
    from ..cornernet.convert import hourglass_key, reference_shapes

    state_dict = strip_prefix(state_dict, "module.")
    if "conv1.weight" in state_dict:
        raise CheckpointFormatError("a ResNet CenterNet checkpoint: convert with --arch "
                                    "centernet_oap_res18 or centernet_oap_resdcn18")  # fmt: skip
    out = {}
    for key, value in state_dict.items():
        if not key.startswith(("hm.", "wh.", "reg.")) and not hourglass_key(key):
            raise CheckpointFormatError(f"unexpected key {key!r} in a CenterNet hourglass file")
        out[hourglass_key(key) or key] = value

    def oap(cfg):
        cfg.MODEL.META_ARCHITECTURE = "CenterNetOAP"
        cfg.MODEL.CENTERNET_OAP.NUM_CLASSES = int(state_dict["hm.0.1.weight"].shape[0])
        cfg.MODEL.CENTERNET_OAP.HEAD_CONV = int(state_dict["hm.0.1.weight"].shape[1])

    expected = reference_shapes("CenterNetOAP", state_dict, "hm.0.1.weight", oap)
    return check_converted(out, expected, "CenterNet hourglass")


def _convert(state_dict, dcn, name):
    state_dict = strip_prefix(state_dict, "module.")
    has_dcn = "deconv_layers.0.conv_offset_mask.weight" in state_dict
    if has_dcn != dcn:
        other = "centernet_oap_resdcn18" if has_dcn else "centernet_oap_res18"
        raise CheckpointFormatError(f"not a {name} checkpoint: convert with --arch {other}")
    try:
        expected = _reference_shapes(state_dict, dcn)
    except KeyError as e:
        raise CheckpointFormatError(f"missing key {e} in a {name} checkpoint") from None
    return check_converted(official_to_ours(state_dict), expected, name)


@register_converter(
    "centernet_oap_res18",
    "CenterNet objects-as-points 'res_18' (xingyizhou/CenterNet, ctdet) -> CenterNetOAP with "
    "build_centernet_resnet_backbone",
    container_keys=("state_dict",),
    signature=("conv1.", "layer1.", "deconv_layers.", "hm.", "wh.", "reg."),
)
def convert_centernet_oap_resnet(state_dict):
    return _convert(state_dict, False, "CenterNet res_18")


@register_converter(
    "centernet_oap_resdcn18",
    "CenterNet objects-as-points 'resdcn_18' (xingyizhou/CenterNet ctdet_coco_resdcn18.pth) -> "
    "CenterNetOAP with build_centernet_resnet_backbone and DECONV_DCN",
    container_keys=("state_dict",),
    signature=(
        "conv1.", "layer1.", "deconv_layers.", "deconv_layers.0.conv_offset_mask.", "hm.", "wh.",
        "reg.",
    ),  # fmt: skip
)
def convert_centernet_oap_resdcn(state_dict):
    return _convert(state_dict, True, "CenterNet resdcn_18")
