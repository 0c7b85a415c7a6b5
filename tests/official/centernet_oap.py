"""xingyizhou/CenterNet (objects as points): import with runtime shims, and the benchmark
runner."""

import contextlib
import os
import types

import numpy as np
import torch

from tests.official import _patch

__all__ = ["runner", "official_centernet_oap"]

TOP_LEVEL = ("models", "utils")


@contextlib.contextmanager
def official_centernet_oap(path):
    """xingyizhou/CenterNet's ``src/lib`` (``path`` is the repository root): yields a namespace
    with ``ctdet_decode``, ``get_affine_transform``, ``color_aug`` (the training colour
    augmentation; Python's ``random`` orders its steps), ``ctdet_post_process`` and the network
    builders ``get_msra_resnet``, ``get_resnet_dcn`` and ``get_large_hourglass``; a
    ``models.networks.DCNv2.dcn_v2`` module whose ``DCN`` is our torchvision-based layer stands
    in for the CUDA extension (ResDCN). Everything is undone on exit."""
    from vision_plugins.layers import ModulatedDeformConv2d

    lib = os.path.join(path, "src", "lib")
    dcn = types.ModuleType("models.networks.DCNv2.dcn_v2")
    dcn.DCN = ModulatedDeformConv2d
    with _patch.official_code(lib, TOP_LEVEL, {"models.networks.DCNv2.dcn_v2": dcn}):
        from models.decode import ctdet_decode
        from models.networks.large_hourglass import get_large_hourglass_net
        from models.networks.msra_resnet import get_pose_net as get_msra_resnet
        from models.networks.resnet_dcn import get_pose_net as get_resnet_dcn
        from utils.image import color_aug, get_affine_transform
        from utils.post_process import ctdet_post_process

        yield types.SimpleNamespace(
            ctdet_decode=ctdet_decode, get_affine_transform=get_affine_transform,
            color_aug=color_aug,
            ctdet_post_process=ctdet_post_process, get_msra_resnet=get_msra_resnet,
            get_resnet_dcn=get_resnet_dcn, get_large_hourglass=get_large_hourglass_net,
        )  # fmt: skip


@contextlib.contextmanager
def runner(path, cfg, model, image):
    """xingyizhou/CenterNet ``CtdetDetector`` on one image (``fix_res`` at the image's own size,
    single scale, no flip; ResNet, ResDCN or Hourglass-104): ``pre_process`` (affine warp +
    mean/std), the network (its last stack), sigmoid, ``ctdet_decode`` (K = TOP_K),
    ``ctdet_post_process`` and ``merge_outputs`` (no NMS), under ``no_grad``.
    ``torch.utils.model_zoo.load_url`` returns nothing while the network is built (its
    constructor downloads ImageNet weights that are overwritten anyway). Yields ``run``, which
    returns ``{class (1-based): (n, 5) array}``."""
    import cv2
    import torch.utils.model_zoo as model_zoo

    from vision_plugins.centernet.convert import official_to_ours

    c = cfg.MODEL.CENTERNET_OAP
    with official_centernet_oap(path) as ns:
        hourglass = cfg.MODEL.BACKBONE.NAME == "build_hourglass104_backbone"
        if hourglass:
            get_pose_net = ns.get_large_hourglass
        elif c.DECONV_DCN:
            get_pose_net = ns.get_resnet_dcn
        else:
            get_pose_net = ns.get_msra_resnet
        heads = {"hm": c.NUM_CLASSES, "wh": 2, "reg": 2}
        # no ImageNet download; the weights are set below
        with _patch.attr(model_zoo, "load_url", lambda *args, **kwargs: {}):
            net = get_pose_net(cfg.MODEL.RESNETS.DEPTH, heads, head_conv=c.HEAD_CONV)
        ours = model.state_dict()
        if hourglass:
            from vision_plugins.cornernet.convert import hourglass_key

            net.load_state_dict({k: ours[hourglass_key(k) or k] for k in net.state_dict()})
        else:
            net.load_state_dict(
                {k: ours[next(iter(official_to_ours({k: 0})))] for k in net.state_dict()}
            )
        net.eval()
        h, w = image.shape[:2]
        mean = np.array([0.40789654, 0.44719302, 0.47026115], np.float32).reshape(1, 1, 3)
        std = np.array([0.28863828, 0.27408164, 0.27809835], np.float32).reshape(1, 1, 3)
        classes = c.NUM_CLASSES

        def run():
            with torch.no_grad():
                centre, scale = np.array([w / 2.0, h / 2.0], np.float32), max(h, w)
                trans = ns.get_affine_transform(centre, scale, 0, [w, h])
                inp = cv2.warpAffine(image, trans, (w, h), flags=cv2.INTER_LINEAR)
                inp = ((inp / 255.0 - mean) / std).astype(np.float32)
                x = torch.from_numpy(inp.transpose(2, 0, 1)[None])
                out = net(x)[-1]
                dets = ns.ctdet_decode(out["hm"].sigmoid_(), out["wh"], reg=out["reg"], K=c.TOP_K)
                dets = dets.numpy().reshape(1, -1, dets.shape[2])
                dets = ns.ctdet_post_process(
                    dets.copy(), [centre], [scale], h // 4, w // 4, classes
                )
                return {
                    j: np.array(dets[0][j], np.float32).reshape(-1, 5)
                    for j in range(1, classes + 1)
                }

        yield run
