"""biubug6/Pytorch_Retinaface: import, the reference network with our weights, and the benchmark
runner."""

import contextlib
import types

import numpy as np
import torch

from tests.official import _patch

__all__ = ["official_retinaface", "official_retinaface_net", "runner"]

TOP_LEVEL = ("data", "models", "layers", "utils")


@contextlib.contextmanager
def official_retinaface(path):
    """biubug6/Pytorch_Retinaface's modules from the checkout at ``path`` (no shim needed for
    inference; its ``MultiBoxLoss`` calls ``.cuda()``, see the optional test). Yields a
    namespace; the modules are removed from ``sys.modules`` on exit."""
    with _patch.official_code(path, TOP_LEVEL):
        from data import cfg_mnet, cfg_re50
        from layers.functions.prior_box import PriorBox
        from layers.modules import MultiBoxLoss
        from models.retinaface import RetinaFace
        from utils.box_utils import decode, decode_landm
        from utils.nms.py_cpu_nms import py_cpu_nms

        yield types.SimpleNamespace(
            cfg_mnet=cfg_mnet, cfg_re50=cfg_re50, PriorBox=PriorBox, MultiBoxLoss=MultiBoxLoss,
            RetinaFace=RetinaFace, decode=decode, decode_landm=decode_landm,
            py_cpu_nms=py_cpu_nms,
        )  # fmt: skip


def official_retinaface_net(ns, cfg, model):
    """The reference network for our cfg (MobileNet-0.25 or ResNet-50) with ``model``'s weights."""
    from vision_plugins.retinaface.convert import reference_to_ours

    resnet = cfg.MODEL.BACKBONE.NAME == "build_retinaface_resnet_backbone"
    ref_cfg = dict(ns.cfg_re50 if resnet else ns.cfg_mnet, pretrain=False)
    net = ns.RetinaFace(cfg=ref_cfg, phase="test")
    ours = model.state_dict()
    state = {}
    for key in net.state_dict():
        (mapped,) = reference_to_ours({key: torch.zeros(0)}, resnet)
        state[key] = ours[mapped]
    net.load_state_dict(state)
    return net.eval(), ref_cfg


@contextlib.contextmanager
def runner(path, cfg, model, image):
    """biubug6/Pytorch_Retinaface ``detect.py`` on one image at its own size (``resize = 1``):
    mean subtraction, the network, ``PriorBox``, ``decode`` / ``decode_landm``, score threshold,
    top-k, ``py_cpu_nms``, keep-top-k, under ``no_grad`` (detect.py disables gradients). Yields
    ``run``, which returns ``(dets, landmarks)``."""
    with official_retinaface(path) as ns:
        net, ref_cfg = official_retinaface_net(ns, cfg, model)
        c = cfg.MODEL.RETINAFACE
        h, w = image.shape[:2]

        def run():
            with torch.no_grad():
                img = np.float32(image)
                img -= (104, 117, 123)  # in place, as detect.py: stays float32
                x = torch.from_numpy(img.transpose(2, 0, 1)).unsqueeze(0)
                loc, conf, landms = net(x)
                priors = ns.PriorBox(ref_cfg, image_size=(h, w)).forward()
                boxes = ns.decode(loc.squeeze(0), priors, ref_cfg["variance"])
                boxes = (boxes * torch.Tensor([w, h, w, h])).numpy()
                scores = conf.squeeze(0).numpy()[:, 1]
                points = ns.decode_landm(landms.squeeze(0), priors, ref_cfg["variance"])
                points = (points * torch.Tensor([w, h] * 5)).numpy()
                inds = np.where(scores > c.SCORE_THRESH_TEST)[0]
                boxes, points, scores = boxes[inds], points[inds], scores[inds]
                order = scores.argsort()[::-1][: c.TOPK_CANDIDATES_TEST]
                boxes, points, scores = boxes[order], points[order], scores[order]
                dets = np.hstack((boxes, scores[:, None])).astype(np.float32, copy=False)
                keep = ns.py_cpu_nms(dets, c.NMS_THRESH_TEST)
                return dets[keep][: cfg.TEST.DETECTIONS_PER_IMAGE], points[keep]

        yield run
