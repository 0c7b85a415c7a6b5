"""Official super-resolution checkpoints -> ``SuperResolution`` / ``SRGAN`` / ``ESRGAN``
checkpoints.

Both converters take the generator (role ``G``) and optionally BasicSR's discriminator (role
``D``, ``VGGStyleDiscriminator``: ``conv0_0`` ... ``linear2``): ``--src G=net_g.pth
[D=net_d.pth]`` (or files named ``*_net_G.pth`` / ``*_net_D.pth``). The generator alone gives a
``SuperResolution`` checkpoint (inference, or a GAN's starting point: the missing ``netD`` is
reported by the loader); with ``D`` an ``SRGAN`` / ``ESRGAN`` one. BasicSR files
(``{"params": ...}`` / ``{"params_ema": ...}``; ``params_ema`` is preferred, as BasicSR's test
options) and plain state dicts are read.

- ``--arch msrresnet``: BasicSR ``MSRResNet`` (``conv_first``, ``body.N.conv{1,2}``,
  ``upconv1/2``, ``conv_hr``, ``conv_last``): our module names, a prefix. Scale from the
  upsampling convolutions (``upconv2`` -> 4; ``upconv1`` with 9·nf outputs -> 3; else 2).
- ``--arch esrgan``: ESRGAN's RRDBNet in any of its three key schemes -- xinntao/ESRGAN
  ``RRDBNet_arch.py`` (``RRDB_trunk.N.RDBk.convj``, ``trunk_conv``, ``upconv1/2``, ``HRconv``;
  ``RRDB_ESRGAN_x4.pth``, ``RRDB_PSNR_x4.pth``; our names), the old ``architecture.py``
  (``model.0``, ``model.1.sub.N.RDBk.convj.0``, ``model.1.sub.<nb>``, ``model.{3,6,8,10}``) and
  BasicSR (``body.N.rdbk.convj``, ``conv_body``, ``conv_up1/2``, ``conv_hr``). BasicSR's x2 / x1
  RRDBNet (pixel-unshuffled input) has no counterpart here and is refused.

``NGF``, ``N_BLOCKS``, ``GROWTH_CHANNELS``, channels, ``D.NDF`` / ``D.INPUT_SIZE`` and the scale
are read from the shapes and returned as the config values the weights need; every key and
shape is checked against the model built from them."""

import re

from ..checkpoint import CheckpointFormatError, check_converted, register_converter
from ..checkpoint.registry import dotted_config, model_shapes

__all__ = ["convert_msrresnet", "convert_esrgan", "rrdbnet_from_any_scheme"]

ROLES = ("G", "D")
CONTAINERS = ("params_ema", "params", "state_dict")


def _need(state_dict, key, where):
    if key not in state_dict:
        raise CheckpointFormatError(f"{where}: missing key {key!r}")
    return state_dict[key]


def _blocks(state_dict, pattern):
    return sorted({int(m.group(1)) for k in state_dict for m in [re.match(pattern, k)] if m})


def _msrresnet(state_dict, where):
    first = _need(state_dict, "conv_first.weight", where)
    nf = first.shape[0]
    blocks = _blocks(state_dict, r"body\.(\d+)\.conv1\.")
    if blocks != list(range(len(blocks))):
        raise CheckpointFormatError(f"{where}: residual blocks body.{blocks} are not 0..n-1")
    up1 = _need(state_dict, "upconv1.weight", where)
    if "upconv2.weight" in state_dict:
        scale = 4
    else:
        scale = 3 if up1.shape[0] == 9 * nf else 2
    last = _need(state_dict, "conv_last.weight", where)
    config = {
        "MODEL.GAN.GENERATOR": "MSRResNet",
        "MODEL.GAN.NGF": nf,
        "MODEL.GAN.N_BLOCKS": len(blocks),
        "MODEL.GAN.INPUT_NC": first.shape[1],
        "MODEL.GAN.OUTPUT_NC": last.shape[0],
        "INPUT.SR.SCALE": scale,
    }
    return dict(state_dict), config


# old architecture.py (RRDB_Net, upsample_mode='upconv') -> xinntao RRDBNet_arch names
_OLD_TAIL = {"3": "upconv1", "6": "upconv2", "8": "HRconv", "10": "conv_last"}
# basicsr RRDBNet -> xinntao RRDBNet_arch names
_BASICSR = {"conv_body": "trunk_conv", "conv_up1": "upconv1", "conv_up2": "upconv2"}
_BASICSR["conv_hr"] = "HRconv"


def rrdbnet_from_any_scheme(state_dict, where="G"):
    """``(state_dict with RRDBNet_arch keys, scheme name)`` of an RRDBNet checkpoint in any of
    the three official schemes (module docstring); unknown keys raise naming the key."""
    if "RRDB_trunk.0.RDB1.conv1.weight" in state_dict or "trunk_conv.weight" in state_dict:
        return dict(state_dict), "RRDBNet_arch"
    out = {}
    if "model.0.weight" in state_dict:
        nb = len(_blocks(state_dict, r"model\.1\.sub\.(\d+)\.RDB1\."))
        for key, value in state_dict.items():
            m = re.fullmatch(
                r"model\.1\.sub\.(\d+)\.(RDB[123])\.(conv[1-5])\.0\.(weight|bias)", key
            )
            if m:
                out[f"RRDB_trunk.{m.group(1)}.{m.group(2)}.{m.group(3)}.{m.group(4)}"] = value
                continue
            m = re.fullmatch(r"model\.1\.sub\.(\d+)\.(weight|bias)", key)
            if m and int(m.group(1)) == nb:
                out[f"trunk_conv.{m.group(2)}"] = value
                continue
            m = re.fullmatch(r"model\.(\d+)\.(weight|bias)", key)
            if m and (m.group(1) == "0" or m.group(1) in _OLD_TAIL):
                name = "conv_first" if m.group(1) == "0" else _OLD_TAIL[m.group(1)]
                out[f"{name}.{m.group(2)}"] = value
                continue
            raise CheckpointFormatError(
                f"{where}: key {key!r} is not a key of the old architecture.py RRDB_Net "
                "(upsample_mode='upconv', x4)"
            )
        return out, "architecture.py"
    if "conv_body.weight" in state_dict or "body.0.rdb1.conv1.weight" in state_dict:
        for key, value in state_dict.items():
            m = re.fullmatch(r"body\.(\d+)\.rdb([123])\.(conv[1-5]\.(?:weight|bias))", key)
            if m:
                out[f"RRDB_trunk.{m.group(1)}.RDB{m.group(2)}.{m.group(3)}"] = value
                continue
            module, _, leaf = key.partition(".")
            if module in _BASICSR or module in ("conv_first", "conv_last"):
                out[f"{_BASICSR.get(module, module)}.{leaf}"] = value
                continue
            raise CheckpointFormatError(f"{where}: key {key!r} is not a key of BasicSR's RRDBNet")
        return out, "basicsr"
    raise CheckpointFormatError(
        f"{where}: key {next(iter(state_dict))!r}: not an RRDBNet checkpoint (xinntao/ESRGAN keys "
        "'RRDB_trunk.0.RDB1.conv1.weight', old architecture.py 'model.0.weight', BasicSR "
        "'body.0.rdb1.conv1.weight')"
    )


def _rrdbnet(state_dict, where):
    out, _ = rrdbnet_from_any_scheme(state_dict, where)
    first = _need(out, "conv_first.weight", where)
    last = _need(out, "conv_last.weight", where)
    if first.shape[1] in (4 * last.shape[0], 16 * last.shape[0]):
        raise CheckpointFormatError(
            f"{where}: 'conv_first.weight' takes {first.shape[1]} channels: BasicSR's x2 / x1 "
            "RRDBNet (pixel-unshuffled input) is not supported, only x4"
        )
    blocks = _blocks(out, r"RRDB_trunk\.(\d+)\.")
    config = {
        "MODEL.GAN.GENERATOR": "RRDBNet",
        "MODEL.GAN.NGF": first.shape[0],
        "MODEL.GAN.N_BLOCKS": len(blocks),
        "MODEL.GAN.GROWTH_CHANNELS": _need(out, "RRDB_trunk.0.RDB1.conv1.weight", where).shape[0],
        "MODEL.GAN.INPUT_NC": first.shape[1],
        "MODEL.GAN.OUTPUT_NC": last.shape[0],
        "INPUT.SR.SCALE": 4,
    }
    return out, config


def _vgg_style_discriminator(state_dict, where):
    first = _need(state_dict, "conv0_0.weight", where)
    size = 256 if "conv5_0.weight" in state_dict else 128
    _need(state_dict, "linear2.weight", where)
    config = {"MODEL.GAN.D.NAME": "VGGStyleDiscriminator", "MODEL.GAN.D.NDF": first.shape[0]}
    config["MODEL.GAN.D.INPUT_SIZE"] = size
    state_dict = {
        k: (v.reshape(()) if k.endswith("num_batches_tracked") else v)
        for k, v in state_dict.items()
    }
    return state_dict, config, first.shape[1]


def _convert(files, generator, meta_arch):
    if "G" not in files:
        raise CheckpointFormatError("G: the generator file is required (--src G=net_g.pth)")
    g_state, config = generator(files["G"], "G (netG)")
    out = {f"netG.{k}": v for k, v in g_state.items()}
    arch = "SuperResolution"
    if "D" in files:
        d_state, d_config, d_in = _vgg_style_discriminator(files["D"], "D (netD)")
        if d_in != config["MODEL.GAN.OUTPUT_NC"]:
            raise CheckpointFormatError(
                f"D (netD): 'conv0_0.weight' takes {d_in} channels, the generator outputs "
                f"{config['MODEL.GAN.OUTPUT_NC']}"
            )
        config.update(d_config)
        out.update({f"netD.{k}": v for k, v in d_state.items()})
        arch = meta_arch

    check_converted(out, model_shapes(dotted_config(config, arch)), arch)
    return out, config


@register_converter(
    "msrresnet",
    "BasicSR MSRResNet net_g (+ VGGStyleDiscriminator net_d): --src G=net_g.pth [D=net_d.pth]",
    container_keys=CONTAINERS,
    signature=("conv_first.", "body.0.conv1.", "upconv1."),
    roles=ROLES,
)
def convert_msrresnet(files):
    return _convert(files, _msrresnet, "SRGAN")


@register_converter(
    "esrgan",
    "ESRGAN RRDBNet (xinntao RRDB_ESRGAN_x4.pth, old architecture.py, or BasicSR keys) "
    "(+ VGGStyleDiscriminator net_d): --src G=RRDB_ESRGAN_x4.pth [D=net_d.pth]",
    container_keys=CONTAINERS,
    signature=("conv_first.", "RRDB_trunk.0.RDB1."),
    roles=ROLES,
)
def convert_esrgan(files):
    return _convert(files, _rrdbnet, "ESRGAN")
