"""princeton-vl/pytorch_stacked_hourglass: import, the benchmark runner, and its MPII PCKh
(``test.py`` ``mpii_eval``)."""

import contextlib
import importlib.util
import io
import os
import sys
import types

import numpy as np
import torch

from tests.official import _patch

__all__ = ["official_stacked_hourglass", "official_mpii_eval", "runner"]

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
def _cwd(path):
    saved = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(saved)


@contextlib.contextmanager
def _profiler(func):
    saved = sys.getprofile()
    sys.setprofile(func)
    try:
        yield
    finally:
        sys.setprofile(saved)


def _imageio_stub():
    def imread(*args, **kwargs):
        raise RuntimeError("imageio stand-in: the official image loading is not used here")

    return types.SimpleNamespace(__name__="imageio", imread=imread)


@contextlib.contextmanager
def official_mpii_eval(path):
    """The official ``test.py`` ``mpii_eval`` (it only prints its tables, rounded to 3 digits):
    yields ``evaluate(pred, gt, visible, normalize, bound) -> {split: {group: [correct,
    count]}}`` (N×16×2 predictions and ground truth, N×16 visibility flags, N normalisers), its
    integer ``correct`` / ``count`` tables of the validation part (``num_train=0``), read from its
    frame when it returns; its print-out is discarded.

    ``test.py`` is loaded from the file under a private name (``test`` is also the standard
    library's package); at import it imports ``data.MPII.ref``, which asserts that
    ``data/MPII/images`` exists relative to the working directory (an empty one in a temporary
    directory here) and imports ``imageio`` (a stand-in: images are not read); ``sys.path``,
    ``sys.modules``, the working directory and the profiler are restored on exit."""
    stubs = {"imageio": _imageio_stub()}
    with _patch.official_code(path, TOP_LEVEL, stubs=stubs), _patch.temp_dir() as tmp:
        os.makedirs(os.path.join(tmp, "data", "MPII", "images"))
        with _cwd(tmp):
            spec = importlib.util.spec_from_file_location(
                "vp_official_shg_test", os.path.join(path, "test.py")
            )
            module = importlib.util.module_from_spec(spec)
            with _patch.modules({spec.name: module}):
                spec.loader.exec_module(module)
        code = module.mpii_eval.__code__

        def evaluate(pred, gt, visible, normalize, bound):
            pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
            visible = np.asarray(visible, np.float64)
            preds = [[{"keypoints": p}] for p in pred]
            gts = [np.insert(g, 2, v, axis=1)[None] for g, v in zip(gt, visible)]
            tables = {}

            def grab(frame, event, arg):
                if event == "return" and frame.f_code is code:
                    tables["correct"] = frame.f_locals["correct"]
                    tables["count"] = frame.f_locals["count"]

            with _profiler(grab), contextlib.redirect_stdout(io.StringIO()):
                module.mpii_eval(preds, gts, list(normalize), 0, bound=bound)
            return {
                split: {g: [tables["correct"][split][g], tables["count"][split][g]]
                        for g in tables["count"][split]}  # fmt: skip
                for split in tables["count"]
            }

        yield evaluate


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
