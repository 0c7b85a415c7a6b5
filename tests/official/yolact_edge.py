"""haotian-liu/yolact_edge: import with runtime shims (no benchmark runner)."""

import contextlib
import types

import torch

from tests.official import _patch

__all__ = ["official_yolact_edge"]


@contextlib.contextmanager
def official_yolact_edge(path, config_name):
    """haotian-liu/yolact_edge's modules from the checkout at ``path``, set to ``config_name``,
    with runtime shims only: ``torch.cuda.current_device`` (called at import), and stub
    ``pyximport`` / ``yolact_edge.utils.cython_nms`` modules (the Cython NMS is only used by the
    traditional NMS; set ``net.detect.use_fast_nms = True`` as ``eval.py`` does by default).
    Yields a namespace with ``Yolact``, ``cfg``, ``postprocess`` and ``OpticalFlowLoss``.
    Everything is undone on exit."""
    pyx = types.ModuleType("pyximport")
    pyx.install = lambda *args, **kwargs: None
    nms = types.ModuleType("yolact_edge.utils.cython_nms")
    nms.nms = None  # the traditional NMS only
    stubs = {"pyximport": pyx, "yolact_edge.utils.cython_nms": nms}
    with contextlib.ExitStack() as stack:
        stack.enter_context(_patch.attr(torch.cuda, "current_device", lambda: 0))
        stack.enter_context(_patch.official_code(path, ("yolact_edge",), stubs))
        from yolact_edge.data.config import cfg, set_cfg
        from yolact_edge.layers.modules.optical_flow_loss import OpticalFlowLoss
        from yolact_edge.layers.output_utils import postprocess
        from yolact_edge.yolact import Yolact

        set_cfg(config_name)
        cfg.mask_proto_debug = False
        yield types.SimpleNamespace(
            Yolact=Yolact, cfg=cfg, postprocess=postprocess, OpticalFlowLoss=OpticalFlowLoss
        )
