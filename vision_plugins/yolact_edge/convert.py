"""Official YolactEdge weights (haotian-liu/yolact_edge ``weights/yolact_edge_*.pth``) ->
``YolactEdge`` model.

The file is a plain state_dict laid out as YOLACT's (``yolact.convert``) except:

- ``fpn_phase_1.lat_layers.*`` and ``fpn_phase_2.{pred,downsample}_layers.*`` -> ``backbone.*``
  (our ``YolactFPN`` holds both phases);
- ``flow_net_pre_convs.convs.*`` -> ``flow_pre_convs.*``; ``flow_net.*`` and ``spa.*`` keep their
  names;
- ``partial_backbone.*`` (a copy of the backbone the official model makes for inference) is
  dropped.

The flow settings (pre-conv widths, encoder width, SPA) are read from the shapes and the result is
checked key by key and shape by shape against the ``YolactEdge`` model they describe. A YOLACT
checkpoint (``fpn.*`` keys) is refused: convert it with ``--arch yolact`` and load it into
``YolactEdge`` (the flow modules keep their initialisation, as the official ``load_weights``
does when it transfers YOLACT weights).
"""

import re

from ..checkpoint import CheckpointFormatError, check_converted, register_converter
from ..checkpoint.registry import model_shapes
from ..yolact.convert import official_to_ours as yolact_official_to_ours
from ..yolact.convert import reference_config

__all__ = ["convert_yolact_edge", "official_to_ours"]

_PRE = "flow_net_pre_convs.convs."


def official_to_ours(state_dict):
    """Rename; no checking."""
    yolact_keys, edge = {}, {}
    for key, value in state_dict.items():
        if key.startswith(("fpn_phase_1.", "fpn_phase_2.")):
            yolact_keys["fpn." + key.split(".", 1)[1]] = value
        elif key.startswith(_PRE):
            edge["flow_pre_convs." + key[len(_PRE) :]] = value
        elif key.startswith(("flow_net.", "spa.")):
            edge[key] = value
        elif key.startswith("partial_backbone."):
            continue
        elif key.startswith("fpn."):
            raise CheckpointFormatError(
                f"key {key!r}: a YOLACT checkpoint (one FPN, no flow network); convert it with "
                "--arch yolact and load the result into YolactEdge"
            )
        else:
            yolact_keys[key] = value
    out = yolact_official_to_ours(yolact_keys)
    out.update(edge)
    return out


@register_converter(
    "yolact_edge",
    "YolactEdge (haotian-liu/yolact_edge weights/yolact_edge_*.pth) -> YolactEdge meta-arch "
    "(MODEL.YOLACT + MODEL.YOLACT_EDGE)",
    container_keys=("state_dict", "model"),
    signature=(
        "backbone.layers.0.", "fpn_phase_1.lat_layers.", "proto_net.", "prediction_layers.0.",
        "flow_net.",
    ),  # fmt: skip
)
def convert_yolact_edge(state_dict):
    if not any(k.startswith("flow_net.") for k in state_dict):
        raise CheckpointFormatError(
            "no 'flow_net.*' keys: not a YolactEdge video checkpoint (a YOLACT or an image-only "
            "YolactEdge file: convert it with --arch yolact after renaming fpn_phase_*)"
        )
    pre = sorted(
        (int(m.group(1)), v.shape[0])
        for k, v in state_dict.items()
        if (m := re.fullmatch(rf"{re.escape(_PRE)}(\d+)\.0\.weight", k))
    )
    configure_yolact = reference_config(
        {
            ("fpn." + k.split(".", 1)[1] if k.startswith("fpn_phase_") else k): v
            for k, v in state_dict.items()
        },
        plus=False,
    )
    encode = int(state_dict["flow_net.conv1.0.0.weight"].shape[0])

    def configure(cfg):
        configure_yolact(cfg)
        cfg.MODEL.META_ARCHITECTURE = "YolactEdge"
        e = cfg.MODEL.YOLACT_EDGE
        e.FLOW.REDUCE_CHANNELS = [c for _, c in pre]
        e.FLOW.ENCODE_CHANNELS = encode
        e.USE_SPA = any(k.startswith("spa.") for k in state_dict)

    return check_converted(official_to_ours(state_dict), model_shapes(configure), "YolactEdge")
