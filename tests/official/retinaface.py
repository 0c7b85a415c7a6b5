"""biubug6/Pytorch_Retinaface: import, the reference network with our weights, the benchmark
runner, and its WIDER FACE evaluation kit (``widerface_evaluate/evaluation.py``)."""

import contextlib
import functools
import glob
import importlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import types
import warnings

import numpy as np
import torch

from tests.official import _patch

__all__ = [
    "official_retinaface",
    "official_retinaface_net",
    "official_widerface_evaluation",
    "runner",
]

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
def runner(path, cfg, model, image, onnx=False):
    """biubug6/Pytorch_Retinaface ``detect.py`` on one image at its own size (``resize = 1``):
    mean subtraction, the network, ``PriorBox``, ``decode`` / ``decode_landm``, score threshold,
    top-k, ``py_cpu_nms``, keep-top-k, under ``no_grad`` (detect.py disables gradients). Yields
    ``run``, which returns ``(dets, landmarks)``.

    ``onnx``: the network through the reference's own ONNX route instead (``convert_to_onnx.py``:
    the test-phase network exported whole by the TorchScript-based ``torch.onnx.export``, input
    ``input0`` of a fixed size, here the image's) run in ONNX Runtime with the options of our
    ``onnxruntime`` backend; the same NumPy decoding after it."""
    with official_retinaface(path) as ns, tempfile.TemporaryDirectory() as tmp:
        net, ref_cfg = official_retinaface_net(ns, cfg, model)
        c = cfg.MODEL.RETINAFACE
        h, w = image.shape[:2]
        forward = net
        if onnx:
            forward = _onnx_network(net, (h, w), os.path.join(tmp, "FaceDetector.onnx"))

        def run():
            with torch.no_grad():
                img = np.float32(image)
                img -= (104, 117, 123)  # in place, as detect.py: stays float32
                x = torch.from_numpy(img.transpose(2, 0, 1)).unsqueeze(0)
                loc, conf, landms = forward(x)
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


def _onnx_network(net, hw, path):
    """``net`` exported as ``convert_to_onnx.py`` does (at ``hw``), as a callable in ONNX
    Runtime returning torch tensors."""
    from vision_plugins.export.backends import load_graph

    x = torch.zeros(1, 3, *hw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation warning
        torch.onnx.export(net, (x,), path, input_names=["input0"],
                          output_names=["output0", "output1", "output2"], dynamo=False)  # fmt: skip
    return load_graph("onnx", path)


def _numpy_bbox_overlaps(boxes, query_boxes):
    """The kit's Cython ``bbox.bbox_overlaps`` (``box_overlaps.pyx``) in NumPy, the same formula
    and operation order: areas ``(x2 - x1 + 1) * (y2 - y1 + 1)``, overlap only where the +1
    intersection width and height are both > 0, ``iw * ih / (area + query_area - iw * ih)``
    (a zero union raises ZeroDivisionError, as Cython's checked division does)."""
    boxes = np.asarray(boxes, np.float64)
    query_boxes = np.asarray(query_boxes, np.float64)
    b, q = boxes[:, None, :], query_boxes[None, :, :]
    box_area = (q[..., 2] - q[..., 0] + 1) * (q[..., 3] - q[..., 1] + 1)
    iw = np.minimum(b[..., 2], q[..., 2]) - np.maximum(b[..., 0], q[..., 0]) + 1
    ih = np.minimum(b[..., 3], q[..., 3]) - np.maximum(b[..., 1], q[..., 1]) + 1
    hit = (iw > 0) & (ih > 0)
    ua = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1) + box_area - iw * ih
    if (hit & (ua == 0)).any():
        raise ZeroDivisionError("float division")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(hit, iw * ih / np.where(hit, ua, 1.0), 0.0)


_BUILD = """
import sys, numpy
from setuptools import setup, Extension
from Cython.Build import cythonize
sys.argv = ["setup.py", "build_ext", "--inplace", "-q"]
setup(ext_modules=cythonize(
    [Extension("bbox", ["box_overlaps.pyx"], include_dirs=[numpy.get_include()])], quiet=True))
"""


def _build_bbox(pyx, out_dir):
    """Compile the kit's ``box_overlaps.pyx`` (copied to ``out_dir``) as module ``bbox`` there
    (its own setup.py recipe, in a subprocess); returns True when a module was built."""
    try:
        shutil.copy(pyx, out_dir)
        subprocess.run([sys.executable, "-c", _BUILD], cwd=out_dir, check=True,
                       capture_output=True, timeout=600)  # fmt: skip
    except (subprocess.SubprocessError, OSError):
        return False
    return bool(glob.glob(os.path.join(out_dir, "bbox*.so")))


@contextlib.contextmanager
def official_widerface_evaluation(path, build=True):
    """The kit ``<path>/widerface_evaluate/evaluation.py`` imported as is. Its imports:

    - ``bbox`` (the Cython ``box_overlaps.pyx``): a module already compiled in the checkout, else
      one compiled here into a temporary directory when Cython and a C compiler are available
      (``build``), else a NumPy stand-in with the same formula (``_numpy_bbox_overlaps``);
      ``np.float`` (removed in NumPy 1.24, read by the .pyx at import) is ``float`` meanwhile;
    - ``IPython`` (imported for ``embed``, never called): a stand-in module when not installed;
    - ``tqdm``: progress bars disabled (``tqdm.tqdm`` with ``disable=True`` meanwhile).

    Yields a namespace: ``evaluation`` (the module), ``bbox_impl`` (which ``bbox``: "cython
    (checkout)", "cython (built here)" or "numpy stand-in") and ``run(pred_dir, gt_dir)`` ->
    ``[AP easy, AP medium, AP hard]`` (the kit's ``evaluation()``, which only prints them: its
    three ``voc_ap`` results are recorded; the printed lines are checked against them)."""
    kit = os.path.join(os.path.abspath(path), "widerface_evaluate")
    with contextlib.ExitStack() as stack:
        if not hasattr(np, "float"):
            stack.enter_context(_patch.attr(np, "float", float))
        stubs = {}
        try:
            importlib.import_module("IPython")
        except ImportError:
            stubs["IPython"] = types.ModuleType("IPython")
            stubs["IPython"].embed = lambda *a, **k: None
        bbox_dirs, impl = [], "numpy stand-in"
        if glob.glob(os.path.join(kit, "bbox*.so")):
            impl = "cython (checkout)"
        elif build:
            tmp = stack.enter_context(_patch.temp_dir("vp_widerface_bbox_"))
            if _build_bbox(os.path.join(kit, "box_overlaps.pyx"), tmp):
                bbox_dirs, impl = [tmp], "cython (built here)"
        if impl == "numpy stand-in":
            stubs["bbox"] = types.ModuleType("bbox")
            stubs["bbox"].bbox_overlaps = _numpy_bbox_overlaps
        stack.enter_context(_patch.path_prepended(*bbox_dirs))
        stack.enter_context(_patch.official_code(kit, ("evaluation", "bbox"), stubs))
        evaluation = importlib.import_module("evaluation")
        quiet = functools.partial(evaluation.tqdm.tqdm, disable=True)
        stack.enter_context(_patch.attr(evaluation.tqdm, "tqdm", quiet))

        def run(pred_dir, gt_dir):
            aps, voc_ap = [], evaluation.voc_ap

            def recording(rec, prec):
                aps.append(voc_ap(rec, prec))
                return aps[-1]

            out = io.StringIO()
            with _patch.attr(evaluation, "voc_ap", recording), contextlib.redirect_stdout(out):
                evaluation.evaluation(pred_dir, gt_dir)
            printed = [line.split(":")[-1].strip() for line in out.getvalue().splitlines()
                       if "Val AP:" in line]  # fmt: skip
            assert printed == [str(ap) for ap in aps], (printed, aps)
            return [float(ap) for ap in aps]

        yield types.SimpleNamespace(evaluation=evaluation, bbox_impl=impl, run=run)
