"""dbolya/yolact (YOLACT, YOLACT++): import with runtime shims, and the benchmark runner."""

import contextlib
import types

import numpy as np
import torch

from tests.official import _patch

__all__ = ["official_yolact", "official_yolact_config", "official_yolact_state", "runner"]

TOP_LEVEL = ("runner", "data", "layers", "utils", "backbone")


@contextlib.contextmanager
def official_yolact(path, config_name):
    """dbolya/yolact's modules from the checkout at ``path``, set to ``config_name``, with the
    runtime shims CPU needs (none edits the official files): ``torch.cuda.current_device``
    (called at import), a ``dcn_v2`` module whose ``DCN`` is our torchvision-based layer (same
    parameters and forward; YOLACT++), ``mask_proto_debug`` off. Yields a namespace with
    ``Yolact``, ``cfg``, ``postprocess`` and ``MultiBoxLoss``; build the network with
    ``ns.Yolact()`` and set ``net.detect.use_fast_nms = True`` (the default NMS needs Cython).
    Everything is undone on exit."""
    from vision_plugins.layers import ModulatedDeformConv2d

    dcn = types.ModuleType("dcn_v2")
    dcn.DCN = ModulatedDeformConv2d
    with contextlib.ExitStack() as stack:
        stack.enter_context(_patch.attr(torch.cuda, "current_device", lambda: 0))
        stack.enter_context(_patch.official_code(path, TOP_LEVEL, {"dcn_v2": dcn}))
        from data import cfg, set_cfg
        from layers.modules import MultiBoxLoss
        from layers.output_utils import postprocess
        from yolact import Yolact

        set_cfg(config_name)
        cfg.mask_proto_debug = False
        yield types.SimpleNamespace(
            Yolact=Yolact, cfg=cfg, postprocess=postprocess, MultiBoxLoss=MultiBoxLoss
        )


def official_yolact_config(cfg):
    """The official config name matching our YOLACT cfg."""
    plus = cfg.MODEL.YOLACT.MASKIOU.ENABLED
    return {(50, False): "yolact_resnet50_config", (101, False): "yolact_base_config",
            (50, True): "yolact_plus_resnet50_config",
            (101, True): "yolact_plus_base_config"}[(cfg.MODEL.RESNETS.DEPTH, plus)]  # fmt: skip


def official_yolact_state(model, official_keys):
    """Our model's weights under the official names (the converter's renaming, inverted)."""
    from vision_plugins.yolact.convert import official_to_ours

    ours = model.state_dict()
    out = {}
    for key in official_keys:
        (mapped,) = official_to_ours({key: torch.zeros(0)}) or (None,)
        if mapped is not None:
            out[key] = ours[mapped]
    return out


@contextlib.contextmanager
def runner(path, cfg, model, image):
    """dbolya/yolact ``eval.py`` on one image: ``FastBaseTransform`` (bilinear resize to
    MAX_SIZE², mean/std, BGR->RGB; re-stated here because the official class allocates its
    constants on CUDA), the network with ``Detect`` (Fast NMS) and ``postprocess`` to the
    image size, under ``no_grad``, with the same weights as ``model``. Yields ``run``."""
    import torch.nn.functional as F

    with official_yolact(path, official_yolact_config(cfg)) as ns:
        net = ns.Yolact()
        net.load_state_dict(official_yolact_state(model, list(net.state_dict())))
        net.eval()
        net.detect.use_fast_nms = True
        size = cfg.MODEL.YOLACT.MAX_SIZE
        mean = torch.tensor([103.94, 116.78, 123.68]).view(1, 3, 1, 1)
        std = torch.tensor([57.38, 57.12, 58.40]).view(1, 3, 1, 1)
        h, w = image.shape[:2]
        frame = torch.from_numpy(np.ascontiguousarray(image)).float()

        def run():
            with torch.no_grad():
                x = frame[None].permute(0, 3, 1, 2)
                x = F.interpolate(x, (size, size), mode="bilinear", align_corners=False)
                x = ((x - mean) / std)[:, (2, 1, 0)].contiguous()
                return ns.postprocess(net(x), w, h, crop_masks=True, score_threshold=0)

        yield run


@contextlib.contextmanager
def official_yolact_augmentations(path, config_name="yolact_base_config"):
    """dbolya/yolact's ``utils.augmentations`` module (``official_yolact``'s shims, set to
    ``config_name``). Its ``random`` (NumPy's global ``numpy.random``) is swapped, for the
    duration, for a namespace with the same ``randint`` / ``uniform`` and a ``choice`` that
    draws ``randint(len(options))`` and returns that option: NumPy >= 1.24 refuses the official
    ``random.choice`` on the ragged tuple of crop modes, and that single ``randint`` is the draw
    the legacy ``choice`` makes on a sequence (the same seeded stream)."""
    with official_yolact(path, config_name):
        from utils import augmentations

        rng = types.SimpleNamespace(
            randint=np.random.randint,
            uniform=np.random.uniform,
            choice=lambda options: options[np.random.randint(len(options))],
        )
        with _patch.attr(augmentations, "random", rng):
            yield augmentations
