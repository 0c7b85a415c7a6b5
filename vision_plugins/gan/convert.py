"""Converting the official pix2pix / CycleGAN network files (junyanz/pytorch-CycleGAN-and-pix2pix:
``<epoch>_net_<NAME>.pth``, one plain state_dict per network).

Our networks keep the official module layout, so a network's keys are the official keys under
the meta-architecture's attribute (``netG.``, ``netD_A.`` ...). What the converter must work out
is the architecture the weights describe, from the keys and shapes alone:

- generator: ``UnetGenerator`` (keys ``model.model.*``; ``NUM_DOWNS`` = nesting depth) or
  ``ResnetGenerator`` (``model.1`` … ``model.<10+n>.conv_block.*``; ``N_BLOCKS`` = n; dropout
  from the second conv's index in ``conv_block``: 6 with dropout, 5 without -- the official index
  shift); a U-Net's dropout leaves no trace in the keys (its Dropout layers have no weights) and
  is left to the config (``MODEL.GAN.USE_DROPOUT``);
- discriminator: ``NLayerDiscriminator`` (``model.0`` …; ``N_LAYERS`` from the conv count) or
  ``PixelDiscriminator`` (``net.0`` …);
- norm: ``batch`` (running statistics), ``instance`` (convolutions before the norm have a bias,
  no norm weights) or ``none`` (neither); ``NGF`` / ``NDF`` / channels from the first conv.

InstanceNorm running statistics that old checkpoints carry (the official
``__patch_instance_norm_state_dict`` deletes them when loading) are dropped: a
``running_mean`` / ``running_var`` / ``num_batches_tracked`` without a ``weight`` beside it.
A file that is not a network of the expected kind raises a ``CheckpointFormatError`` naming the
key that does not fit.
"""

import re

from ..checkpoint import CheckpointFormatError, check_converted
from ..checkpoint.registry import dotted_config, model_shapes

__all__ = [
    "drop_instance_norm_stats",
    "infer_generator",
    "infer_discriminator",
    "convert_networks",
]

_STATS = ("running_mean", "running_var", "num_batches_tracked")


def drop_instance_norm_stats(state_dict):
    """``state_dict`` without the running statistics of affine-free (instance) norm layers."""
    out = {}
    for key, value in state_dict.items():
        module, _, leaf = key.rpartition(".")
        if leaf in _STATS and f"{module}.weight" not in state_dict:
            continue
        out[key] = value
    return out


def _norm(state_dict, conv_keys, where):
    """The norm type of a network whose norm-preceded convolutions are ``conv_keys``."""
    if any(k.endswith(".running_mean") for k in state_dict):
        return "batch"
    biased = [f"{k}.bias" in state_dict for k in conv_keys]
    if all(biased):
        return "instance"
    if not any(biased):
        return "none"
    raise CheckpointFormatError(f"{where}: convolutions with and without bias: no official norm")


def _conv_indices(state_dict, prefix):
    """Sorted indices ``i`` of the 4-D ``<prefix><i>.weight`` tensors (convolutions)."""
    found = []
    for key, value in state_dict.items():
        m = re.fullmatch(re.escape(prefix) + r"(\d+)\.weight", key)
        if m and value.dim() == 4:
            found.append(int(m.group(1)))
    return sorted(found)


def infer_generator(state_dict, where):
    """``{config key: value}`` of the generator the official ``state_dict`` describes."""
    keys = list(state_dict)
    if "model.model.0.weight" in state_dict:
        depth = max(k.split(".").count("model") for k in keys) - 1
        outer = state_dict["model.model.0.weight"]
        last = state_dict.get("model.model.3.weight")
        if last is None:
            raise CheckpointFormatError(f"{where}: UnetGenerator without 'model.model.3.weight'")
        downs = [k[: -len(".weight")] for k in keys if re.search(r"model\.1\.weight$", k)]
        return {
            "MODEL.GAN.GENERATOR": "UnetGenerator",
            "MODEL.GAN.NUM_DOWNS": depth,
            "MODEL.GAN.NGF": outer.shape[0],
            "MODEL.GAN.INPUT_NC": outer.shape[1],
            "MODEL.GAN.OUTPUT_NC": last.shape[1],
            "MODEL.GAN.NORM": _norm(state_dict, downs, where),
        }
    if "model.1.weight" in state_dict:
        blocks = sorted(
            {
                int(m.group(1))
                for k in keys
                for m in [re.match(r"model\.(\d+)\.conv_block\.", k)]
                if m
            }
        )
        if blocks != list(range(10, 10 + len(blocks))):
            raise CheckpointFormatError(
                f"{where}: ResnetGenerator residual blocks at model.{blocks}, expected model.10 …"
            )
        convs = _conv_indices(state_dict, "model.10.conv_block.") if blocks else [1, 5]
        if convs not in ([1, 5], [1, 6]):
            raise CheckpointFormatError(
                f"{where}: 'model.10.conv_block.{convs[0]}.weight': residual convolutions at "
                f"{convs}, the official reflection-padded blocks have them at [1, 5] or [1, 6]"
            )
        first, last = state_dict["model.1.weight"], state_dict[f"model.{17 + len(blocks)}.weight"]
        return {
            "MODEL.GAN.GENERATOR": "ResnetGenerator",
            "MODEL.GAN.N_BLOCKS": len(blocks),
            "MODEL.GAN.USE_DROPOUT": convs == [1, 6],
            "MODEL.GAN.NGF": first.shape[0],
            "MODEL.GAN.INPUT_NC": first.shape[1],
            "MODEL.GAN.OUTPUT_NC": last.shape[0],
            "MODEL.GAN.NORM": _norm(state_dict, ["model.1", "model.4", "model.7"], where),
        }
    key = keys[0]
    raise CheckpointFormatError(
        f"{where}: key {key!r} is not a generator key (UnetGenerator files start with "
        "'model.model.0.weight', ResnetGenerator files with 'model.1.weight')"
    )


def infer_discriminator(state_dict, where):
    """``{config key: value}`` of the discriminator the official ``state_dict`` describes
    (``input_nc`` under ``"input_nc"``: the meta-architecture decides it)."""
    if "net.0.weight" in state_dict:
        first = state_dict["net.0.weight"]
        return {
            "MODEL.GAN.D.NAME": "PixelDiscriminator",
            "MODEL.GAN.D.NDF": first.shape[0],
            "MODEL.GAN.NORM": _norm(state_dict, ["net.2"], where),
            "input_nc": first.shape[1],
        }
    convs = _conv_indices(state_dict, "model.")
    if convs[:1] == [0] and "model.0.bias" in state_dict:
        first = state_dict["model.0.weight"]
        return {
            "MODEL.GAN.D.NAME": "NLayerDiscriminator",
            "MODEL.GAN.D.NDF": first.shape[0],
            "MODEL.GAN.D.N_LAYERS": len(convs) - 2,
            "MODEL.GAN.NORM": _norm(state_dict, [f"model.{i}" for i in convs[1:-1]], where),
            "input_nc": first.shape[1],
        }
    key = next(iter(state_dict))
    raise CheckpointFormatError(
        f"{where}: key {key!r} is not a discriminator key (NLayerDiscriminator files start "
        "with 'model.0.weight' and 'model.0.bias', PixelDiscriminator files with 'net.0.weight')"
    )


def _merge(config, extra, where):
    for key, value in extra.items():
        if key in config and config[key] != value:
            raise CheckpointFormatError(
                f"{where}: {key}={value!r}, but the other networks have {config[key]!r} (the "
                "model has one value for all its networks)"
            )
        config[key] = value


def convert_networks(files, roles, meta_arch, channels):
    """Convert official network files to one checkpoint of ``meta_arch``.

    ``files``: ``{role: official state_dict}``; ``roles``: ``{role: (attribute, kind)}`` with
    kind ``"G"`` / ``"D"``, or ``"G_reverse"`` for a generator of the other direction (B -> A:
    its input channels are the model's OUTPUT_NC); ``channels(role, config)``: the input
    channels a discriminator must have (checked against the file). Returns
    ``(state_dict, config)``: the keys prefixed with the attributes, and the config values the
    weights need (every key and shape checked against the model built from them)."""
    out, config, prefixes = {}, {"MODEL.META_ARCHITECTURE": meta_arch}, []
    d_inputs = {}
    for role in sorted(files, key=lambda r: roles[r][1] == "D"):  # generators first
        attribute, kind = roles[role]
        where = f"{role} ({attribute})"
        state_dict = drop_instance_norm_stats(files[role])
        if kind in ("G", "G_reverse"):
            found = infer_generator(state_dict, where)
            if kind == "G_reverse":
                found["MODEL.GAN.INPUT_NC"], found["MODEL.GAN.OUTPUT_NC"] = (
                    found["MODEL.GAN.OUTPUT_NC"],
                    found["MODEL.GAN.INPUT_NC"],
                )
            _merge(config, found, where)
        else:
            found = infer_discriminator(state_dict, where)
            d_inputs[role] = found.pop("input_nc")
            _merge(config, found, where)
        for key, value in state_dict.items():
            if key.endswith("num_batches_tracked"):
                value = value.reshape(())  # saved as (1,) by some versions; torch loads both
            out[f"{attribute}.{key}"] = value
        prefixes.append(f"{attribute}.")
    for role, found in d_inputs.items():
        expected = channels(role, config)
        if expected is not None and expected != found:
            raise CheckpointFormatError(
                f"{role}: '{roles[role][0]}' takes {found} input channels "
                f"('model.0.weight' / 'net.0.weight'), the generators' channels give {expected}"
            )

    shapes = model_shapes(dotted_config(config))
    shapes = {k: v for k, v in shapes.items() if k.startswith(tuple(prefixes))}
    check_converted(out, shapes, meta_arch)
    config.pop("MODEL.META_ARCHITECTURE")
    return out, config
