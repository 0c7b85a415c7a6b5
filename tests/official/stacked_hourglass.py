"""princeton-vl/pytorch_stacked_hourglass: import, and the benchmark runner."""

import contextlib
import types

import numpy as np
import torch

from tests.official import _patch

__all__ = ["official_stacked_hourglass", "runner"]

TOP_LEVEL = ("models", "utils", "task", "data")


@contextlib.contextmanager
def official_stacked_hourglass(path):
    """The official modules from the checkout at ``path``: yields a namespace with ``PoseNet``,
    ``HeatmapParser`` and ``img`` (``utils.img``); its top-level packages (named
    models / task / utils / data) are removed from ``sys.modules`` on exit."""
    with _patch.official_code(path, TOP_LEVEL):
        import utils.img as img
        from models.posenet import PoseNet
        from utils.group import HeatmapParser

        yield types.SimpleNamespace(PoseNet=PoseNet, HeatmapParser=HeatmapParser, img=img)


@contextlib.contextmanager
def runner(path, cfg, model, image):
    """princeton-vl/pytorch_stacked_hourglass ``test.py``: the image cropped to INPUT_RES² (as
    its loader does), then ``inference``: two forwards (image, mirrored image; no ``no_grad``,
    as official), flip averaging, ``HeatmapParser.parse`` and the mapping back to the image.
    Yields ``run``."""
    from vision_plugins.data.mpii import MPII_FLIP_INDICES

    with official_stacked_hourglass(path) as ns:
        oimg = ns.img
        c = cfg.MODEL.POSE_HOURGLASS
        net = ns.PoseNet(nstack=c.NSTACK, inp_dim=c.INP_DIM, oup_dim=c.OUP_DIM,
                         increase=c.INCREASE)  # fmt: skip
        state = {k[len("backbone.") :]: v for k, v in model.state_dict().items()}
        net.load_state_dict(state)
        net.eval()
        parser = ns.HeatmapParser()
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

        yield run
