"""princeton-vl/CornerNet and Duankaiwen/CenterNet (CenterNet-Triplet; the same code layout):
import with pure-Python stand-ins for the compiled parts, and the benchmark runner."""

import contextlib
import importlib
import os
import types

import numpy as np
import torch

from tests.official import _patch

__all__ = ["runner", "official_cornernet", "official_sampling"]

TOP_LEVEL = ("models", "utils", "config", "db", "nnet", "sample", "test", "external")


def _cpool_standins():
    """Pure-PyTorch modules with the API of CornerNet's compiled ``_cpools`` extensions
    (``forward(x) -> [y]``, ``backward(x, grad) -> [grad_x]``, cumulative maxima), by module
    name (nothing is compiled)."""
    from vision_plugins.layers.center_heatmaps import bottom_pool, left_pool, right_pool, top_pool

    out = {}
    for name, fn in (("top_pool", top_pool), ("bottom_pool", bottom_pool),
                     ("left_pool", left_pool), ("right_pool", right_pool)):  # fmt: skip
        mod = types.ModuleType(name)

        def forward(x, fn=fn):
            return [fn(x)]

        def backward(x, grad, fn=fn):
            with torch.enable_grad():
                x = x.detach().requires_grad_()
                return [torch.autograd.grad(fn(x), x, grad)[0]]

        mod.forward, mod.backward = forward, backward
        out[name] = mod
    return out


def _nms_standin():
    """``external`` / ``external.nms`` (Cython, not built here): ``soft_nms`` /
    ``soft_nms_merge`` with the official in-place semantics, on ``vision_plugins.layers.soft_nms``
    (checked against a loop of the official algorithm in tests/layers/test_soft_nms.py)."""
    from vision_plugins.layers.soft_nms import soft_nms

    methods = {0: "hard", 1: "linear", 2: "gaussian"}
    nms = types.ModuleType("external.nms")

    def official_soft_nms(boxes, sigma=0.5, Nt=0.3, threshold=0.001, method=0):
        boxes[:] = soft_nms(boxes, sigma, Nt, threshold, methods[method], keep_stale_rows=True)

    def official_soft_nms_merge(boxes, sigma=0.5, Nt=0.3, threshold=0.001, method=0,
                                weight_exp=6):  # fmt: skip
        boxes[:] = soft_nms(boxes, sigma, Nt, threshold, methods[method], True, weight_exp)

    nms.soft_nms, nms.soft_nms_merge = official_soft_nms, official_soft_nms_merge
    package = types.ModuleType("external")
    package.nms = nms
    return {"external": package, "external.nms": nms}


@contextlib.contextmanager
def official_cornernet(path, module, test_procedure=True):
    """The checkout at ``path`` (princeton-vl/CornerNet or Duankaiwen/CenterNet) importable,
    with the compiled corner pools and the Cython soft-NMS replaced by pure-Python stand-ins
    (``_cpool_standins``, ``_nms_standin``). Yields a namespace with ``model``, the official
    model module ``module`` (``"models.CornerNet"`` or ``"models.CenterNet-104"``), and, if
    ``test_procedure``, ``kp_detection`` (``test/coco.py``; the standard library's ``test``
    package is hidden meanwhile). Everything is undone on exit."""
    stubs = dict(_cpool_standins(), **_nms_standin())
    with _patch.official_code(path, TOP_LEVEL, stubs):
        ns = types.SimpleNamespace(model=importlib.import_module(module))
        if test_procedure:
            ns.kp_detection = importlib.import_module("test.coco").kp_detection
        yield ns


@contextlib.contextmanager
def official_sampling(path):
    """The training-sampling helpers of the checkout at ``path`` (princeton-vl/CornerNet):
    yields a namespace with ``random_crop`` (``sample/utils.py``), ``resize_image``,
    ``clip_detections`` (``sample/coco.py``'s ``_resize_image``, ``_clip_detections``),
    ``crop_image``, ``color_jittering_``, ``lighting_``, ``normalize_`` (``utils/image.py``) and
    the COCO
    ``eig_val`` / ``eig_vec`` (``db/coco.py``, read from the source: importing it needs
    pycocotools and the dataset). Everything is undone on exit."""
    import ast

    with _patch.official_code(path, TOP_LEVEL, {}):
        sample_utils = importlib.import_module("sample.utils")
        sample_coco = importlib.import_module("sample.coco")
        image = importlib.import_module("utils.image")
        with open(os.path.join(path, "db", "coco.py")) as f:
            tree = ast.parse(f.read())
        eig = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Attribute):
                name = node.targets[0].attr
                if name in ("_eig_val", "_eig_vec"):
                    eig[name] = np.array(ast.literal_eval(node.value.args[0]), np.float32)
        yield types.SimpleNamespace(
            random_crop=sample_utils.random_crop,
            resize_image=sample_coco._resize_image,
            clip_detections=sample_coco._clip_detections,
            crop_image=image.crop_image,
            color_jittering_=image.color_jittering_,
            lighting_=image.lighting_,
            normalize_=image.normalize_,
            eig_val=eig["_eig_val"],
            eig_vec=eig["_eig_vec"],
        )


@contextlib.contextmanager
def runner(path, cfg, model, image):
    """princeton-vl/CornerNet (``CornerNet``) or Duankaiwen/CenterNet (``CenterNetTriplet``,
    CenterNet-104): the official ``test/coco.py::kp_detection`` itself on one image — scales,
    ``crop_image``, normalisation, image + flip batch, the network's ``_test`` and ``_decode``,
    ``_rescale_dets``, (the centre-region check), per-class soft-NMS (stale rows kept, as
    officially) and the per-image cut — with a one-image stand-in for the COCO ``db`` and the
    ``nnet`` wrapper (CPU, no CUDA), in a temporary directory removed on exit. Yields ``run``,
    which returns ``{class (1-based): (n, 5) array}``."""
    import cv2

    from vision_plugins.cornernet.convert import hourglass_key

    triplet = cfg.MODEL.META_ARCHITECTURE == "CenterNetTriplet"
    c, s = cfg.MODEL.CORNERNET, cfg.MODEL.CORNERNET.SOFT_NMS
    configs = {
        "top_k": c.TOP_K,
        "ae_threshold": c.AE_THRESHOLD,
        "nms_kernel": c.NMS_KERNEL,
        "test_scales": list(c.TEST_SCALES),
        "weight_exp": s.WEIGHT_EXP,
        "merge_bbox": s.MERGE_BBOX,
        "categories": c.NUM_CLASSES,
        "nms_threshold": s.NT,
        "max_per_image": c.MAX_PER_IMAGE,
        "nms_algorithm": {"hard": "nms", "linear": "linear_soft_nms",
                          "gaussian": "exp_soft_nms"}[s.METHOD],  # fmt: skip
        "input_size": [511],
        "output_sizes": [[128, 128]],
    }
    module = "models.CenterNet-104" if triplet else "models.CornerNet"
    with official_cornernet(path, module) as ns, _patch.temp_dir("vp_official_cornernet_") as wd:
        net = ns.model.model(types.SimpleNamespace(configs=configs))
        ours = model.state_dict()
        keys = {k: hourglass_key(k) or k for k in net.state_dict()}
        net.load_state_dict({k: ours[v] for k, v in keys.items()})
        net.eval()
        image_file = os.path.join(wd, "image.png")
        cv2.imwrite(image_file, image)
        found = {}

        def convert_to_coco(top_bboxes):
            found.update({j: b.copy() for j, b in top_bboxes[0].items()})
            return []

        db = types.SimpleNamespace(
            split="minival", db_inds=np.arange(1), configs=configs, image_ids=lambda i: 0,
            image_file=lambda i: image_file, mean=np.array([0.40789654, 0.44719302, 0.47026115],
                                                           np.float32),
            std=np.array([0.28863828, 0.27408164, 0.27809835], np.float32),
            convert_to_coco=convert_to_coco, evaluate=lambda *args: None,
        )  # fmt: skip

        class NNet:
            def test(self, xs, **kwargs):
                with torch.no_grad():
                    return net(*xs, **kwargs)

        def run():
            found.clear()
            ns.kp_detection(db, NNet(), wd)
            return dict(found)

        yield run
