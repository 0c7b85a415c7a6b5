"""XPixelGroup/BasicSR super-resolution generators (``basicsr/archs/srresnet_arch.py``
``MSRResNet``, ``basicsr/archs/rrdbnet_arch.py`` ``RRDBNet``) imported from a checkout, and the
benchmark runner (``basicsr/test.py`` -> ``SRModel.test`` per image, with our weights).

``import basicsr`` runs ``basicsr/__init__.py``, which imports the whole package (data, losses,
metrics, models); with torchvision >= 0.17 that fails (``torchvision.transforms.
functional_tensor`` is gone), and ``basicsr/archs/__init__.py`` imports every architecture
file. So the packages ``basicsr``, ``basicsr.archs``, ``basicsr.utils`` are stand-ins pointing
at the checkout's folders (their ``__init__`` files are not run) and ``basicsr.ops.dcn`` (a
compiled CUDA extension that ``arch_util`` imports for ``DCNv2Pack``, unused here) is a stub;
the architecture files, ``arch_util``, ``basicsr.utils.registry`` and ``basicsr.utils.img_util``
(``img2tensor``, ``tensor2img``) are the official ones."""

import contextlib
import importlib
import logging
import os
import re
import types

import numpy as np
import torch
from torch import nn

from tests.official import _patch
from tests.official.esrgan import generator_state

__all__ = ["official_basicsr", "official_sr_generator", "runner"]


def _package(name, folder):
    module = types.ModuleType(name)
    module.__path__ = [folder]
    module.__package__ = name
    return module


def _stubs(path):
    root = os.path.join(os.path.abspath(path), "basicsr")

    def unavailable(*args, **kwargs):
        raise RuntimeError("stand-in: BasicSR's compiled deformable convolution is not built")

    class ModulatedDeformConvPack(nn.Module):  # base class of arch_util.DCNv2Pack, never built
        def __init__(self, *args, **kwargs):
            unavailable()

    utils = _package("basicsr.utils", os.path.join(root, "utils"))
    utils.get_root_logger = lambda *args, **kwargs: logging.getLogger("basicsr")
    dcn = types.ModuleType("basicsr.ops.dcn")
    dcn.ModulatedDeformConvPack, dcn.modulated_deform_conv = ModulatedDeformConvPack, unavailable
    return {
        "basicsr": _package("basicsr", root),
        "basicsr.archs": _package("basicsr.archs", os.path.join(root, "archs")),
        "basicsr.utils": utils,
        "basicsr.ops": _package("basicsr.ops", os.path.join(root, "ops")),
        "basicsr.ops.dcn": dcn,
    }


@contextlib.contextmanager
def official_basicsr(path):
    """The official ``MSRResNet`` / ``RRDBNet`` and ``img2tensor`` / ``tensor2img`` from the
    BasicSR checkout at ``path`` (module docstring); yields a namespace. ``sys.path`` /
    ``sys.modules`` (stand-ins included) are restored on exit."""
    if not os.path.isfile(os.path.join(str(path), "basicsr", "archs", "srresnet_arch.py")):
        raise FileNotFoundError(
            f"{path!r} is not a checkout of XPixelGroup/BasicSR: no "
            "basicsr/archs/srresnet_arch.py in it"
        )
    with _patch.official_code(path, stubs=_stubs(path)):
        srresnet = importlib.import_module("basicsr.archs.srresnet_arch")
        rrdbnet = importlib.import_module("basicsr.archs.rrdbnet_arch")
        img_util = importlib.import_module("basicsr.utils.img_util")
        yield types.SimpleNamespace(
            MSRResNet=srresnet.MSRResNet, RRDBNet=rrdbnet.RRDBNet,
            img2tensor=img_util.img2tensor, tensor2img=img_util.tensor2img,
            path=os.path.abspath(path),
        )  # fmt: skip


# our (xinntao RRDBNet_arch) module names -> BasicSR's rrdbnet_arch names
_TO_BASICSR = {"trunk_conv": "conv_body", "upconv1": "conv_up1", "upconv2": "conv_up2"}
_TO_BASICSR["HRconv"] = "conv_hr"


def basicsr_rrdbnet_state(state):
    """Our RRDBNet state dict in BasicSR's key scheme (``body.N.rdbk.convj``, ``conv_body``,
    ``conv_up1/2``, ``conv_hr``); the inverse of the ``--arch esrgan`` converter's mapping."""
    out = {}
    for key, value in state.items():
        m = re.fullmatch(r"RRDB_trunk\.(\d+)\.RDB([123])\.(.+)", key)
        if m:
            out[f"body.{m.group(1)}.rdb{m.group(2)}.{m.group(3)}"] = value
            continue
        module, _, leaf = key.partition(".")
        out[f"{_TO_BASICSR.get(module, module)}.{leaf}"] = value
    return out


def official_sr_generator(ns, cfg, model):
    """BasicSR's network for our config with our generator's weights (strict), eval mode, on
    MODEL.DEVICE: ``MSRResNet(num_in_ch, num_out_ch, num_feat, num_block, upscale)`` or
    ``RRDBNet(num_in_ch, num_out_ch, scale=4, num_feat, num_block, num_grow_ch)``. Other
    generators (the paper's ``SRResNet``: no official code) are refused."""
    g, scale = cfg.MODEL.GAN, cfg.INPUT.SR.SCALE
    state = generator_state(model)
    if g.GENERATOR == "MSRResNet":
        net = ns.MSRResNet(
            num_in_ch=g.INPUT_NC, num_out_ch=g.OUTPUT_NC, num_feat=g.NGF, num_block=g.N_BLOCKS,
            upscale=scale,
        )  # fmt: skip
    elif g.GENERATOR == "RRDBNet":
        if scale != 4:
            raise ValueError(f"--official (BasicSR): RRDBNet at INPUT.SR.SCALE={scale}; ours is x4")
        net = ns.RRDBNet(
            num_in_ch=g.INPUT_NC, num_out_ch=g.OUTPUT_NC, scale=4, num_feat=g.NGF,
            num_block=g.N_BLOCKS, num_grow_ch=g.GROWTH_CHANNELS,
        )  # fmt: skip
        state = basicsr_rrdbnet_state(state)
    else:
        raise ValueError(
            f"--official (BasicSR): MODEL.GAN.GENERATOR={g.GENERATOR!r} has no BasicSR "
            "counterpart; the runner times MSRResNet and RRDBNet (SRResNet follows the SRGAN "
            "paper, which has no official code)"
        )
    net.load_state_dict(state, strict=True)
    net.eval()
    return net.to(torch.device(cfg.MODEL.DEVICE))


@contextlib.contextmanager
def runner(path, cfg, model, image):
    """BasicSR's test-time work per image with our generator's weights in the official network:
    the BGR uint8 image as ``imfrombytes(..., float32=True)`` leaves it (``float32 / 255``),
    ``img2tensor`` (BGR -> RGB, CHW float32), a batch of one on MODEL.DEVICE, ``SRModel.test``
    (``eval()`` + ``no_grad`` forward) and ``tensor2img`` (clamp to [0, 1], RGB -> BGR,
    ``* 255`` rounded, uint8). ``run()`` returns the H×W×3 BGR uint8 image (the file write is
    not timed)."""
    with official_basicsr(path) as ns:
        net = official_sr_generator(ns, cfg, model)
        device = torch.device(cfg.MODEL.DEVICE)

        def run():
            lq = ns.img2tensor(image.astype(np.float32) / 255.0, bgr2rgb=True, float32=True)
            with torch.no_grad():
                output = net(lq.unsqueeze(0).to(device))
            return ns.tensor2img(output.detach().cpu(), rgb2bgr=True, min_max=(0, 1))

        yield run
