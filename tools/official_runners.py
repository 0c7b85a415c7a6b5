"""Official implementations timed by ``tools/benchmark.py --official PATH``.

Each runner takes ``(path, cfg, model, image)``: a checkout of the official code, our config,
our built model (weights loaded) and the BGR benchmark image. It imports the official code from
``path`` only (nothing official is vendored here), loads the same weights into the official
network and returns a zero-argument callable that runs the official inference procedure on the
same image, as the official test script does it. Runners are keyed by ``MODEL.META_ARCHITECTURE``.
"""

import contextlib
import sys

import numpy as np
import torch

__all__ = ["OFFICIAL_RUNNERS", "official_runner"]

OFFICIAL_RUNNERS = {}


def official_runner(*meta_archs):
    def deco(fn):
        for name in meta_archs:
            OFFICIAL_RUNNERS[name] = fn
        return fn

    return deco


@contextlib.contextmanager
def official_imports(path, top_level):
    """``path`` first on ``sys.path``; its top-level packages (``top_level``, names that can
    clash with other code such as ``models`` or ``utils``) removed from ``sys.modules`` after."""
    sys.path.insert(0, path)
    try:
        yield
    finally:
        sys.path.remove(path)
        for name in list(sys.modules):
            if name.split(".")[0] in top_level:
                del sys.modules[name]


@official_runner("StackedHourglassPose")
def stacked_hourglass(path, cfg, model, image):
    """princeton-vl/pytorch_stacked_hourglass ``test.py``: the image cropped to INPUT_RES² (as
    its loader does), then ``inference``: two forwards (image, mirrored image; no ``no_grad``,
    as official), flip averaging, ``HeatmapParser.parse`` and the mapping back to the image."""
    from vision_plugins.data.mpii import MPII_FLIP_INDICES

    with official_imports(path, ("models", "utils", "task", "data")):
        import utils.img as oimg
        from models.posenet import PoseNet
        from utils.group import HeatmapParser

    c = cfg.MODEL.POSE_HOURGLASS
    net = PoseNet(nstack=c.NSTACK, inp_dim=c.INP_DIM, oup_dim=c.OUP_DIM, increase=c.INCREASE)
    state = {k[len("backbone.") :]: v for k, v in model.state_dict().items()}
    net.load_state_dict(state)
    net.eval()
    parser = HeatmapParser()
    res = (c.INPUT_RES, c.INPUT_RES)
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    h, w = rgb.shape[:2]
    center, scale = (w / 2, h / 2), max(h, w) / 200
    flip = list(MPII_FLIP_INDICES)

    def run():
        img = oimg.crop(rgb, center, scale, res)
        mat_ = oimg.get_transform((res[1] / 2, res[0] / 2), res[0] / 200, res)[:2]
        inp = img / 255
        out1 = net(torch.Tensor(np.float32([inp]))).detach().numpy()
        out2 = net(torch.Tensor(np.float32([inp[:, ::-1]]))).detach().numpy()
        det = (out1[0, -1] + out2[0, -1, :, :, ::-1][flip]) / 2
        det = np.minimum(det, 1)
        mat = np.linalg.pinv(np.array(mat_).tolist() + [[0, 0, 1]])[:2]
        preds = parser.parse(np.float32([det]))[0]
        preds[:, :, :2] = oimg.kpt_affine(preds[:, :, :2] * 4, mat)
        for j in range(preds.shape[1]):
            preds[0, j, :2] = oimg.transform(preds[0, j, :2], center, scale, res, invert=1)
        return preds

    return run
