"""pytorch/examples ``fast_neural_style`` model files (``saved_models/*.pth``: a plain
``TransformerNet`` state_dict) -> ``FastNeuralStyle`` checkpoint (``transformer.*``):
``tools/convert_weights.py --arch fast_neural_style --src mosaic.pth --dst out.pth``.

Old files carry ``in*.running_mean`` / ``running_var`` of InstanceNorm layers that tracked
statistics in torch < 0.4; the official ``stylize`` deletes them before loading (keys matching
``in\\d+\\.running_(mean|var)$``), and so does this converter (``num_batches_tracked`` too). NGF,
N_BLOCKS and the channel counts are read from the weights and returned as config values."""

import re

from ..checkpoint import CheckpointFormatError, check_converted, register_converter
from ..checkpoint.registry import dotted_config, model_shapes

__all__ = ["convert_fast_neural_style"]

_STATS = re.compile(r"in\d+\.(running_mean|running_var|num_batches_tracked)$")


@register_converter(
    "fast_neural_style",
    "pytorch/examples fast_neural_style TransformerNet .pth (saved_models/*.pth)",
    container_keys=("state_dict",),
    signature=("conv1.conv2d.", "res1.conv1.conv2d.", "deconv3.conv2d."),
)
def convert_fast_neural_style(state_dict):
    state = {k: v for k, v in state_dict.items() if not _STATS.search(k)}
    for key in ("conv1.conv2d.weight", "deconv3.conv2d.weight"):
        if key not in state:
            raise CheckpointFormatError(
                f"key {key!r} missing: not a pytorch/examples TransformerNet file (its keys "
                f"start with 'conv1.conv2d.'; got {next(iter(state_dict), None)!r} ...)"
            )
    blocks = sorted({int(m.group(1)) for k in state for m in [re.match(r"res(\d+)\.", k)] if m})
    if blocks != list(range(1, len(blocks) + 1)):
        raise CheckpointFormatError(f"residual blocks res{blocks}: expected res1 ... resN")
    first, last = state["conv1.conv2d.weight"], state["deconv3.conv2d.weight"]
    config = {
        "MODEL.GAN.GENERATOR": "TransformerNet",
        "MODEL.GAN.NGF": first.shape[0],
        "MODEL.GAN.N_BLOCKS": len(blocks),
        "MODEL.GAN.INPUT_NC": first.shape[1],
        "MODEL.GAN.OUTPUT_NC": last.shape[0],
    }
    out = {f"transformer.{k}": v for k, v in state.items()}

    configure = dotted_config(config, "FastNeuralStyle")
    check_converted(out, model_shapes(configure), "FastNeuralStyle")
    return out, config
