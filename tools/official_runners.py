"""Official implementations timed by ``tools/benchmark.py --official PATH``.

Each runner takes ``(path, cfg, model, image)``: a checkout of the official code, our config,
our built model (weights loaded) and the BGR benchmark image. It imports the official code from
``path`` only (nothing official is vendored here), loads the same weights into the official
network and returns a zero-argument callable that runs the official inference procedure on the
same image, as the official test script does it. Runners are keyed by ``MODEL.META_ARCHITECTURE``.
"""

import contextlib
import os
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


def _official_yolact_state(model, official_keys):
    """Our model's weights under the official names (the converter's renaming, inverted)."""
    from vision_plugins.yolact.convert import official_to_ours

    ours = model.state_dict()
    out = {}
    for key in official_keys:
        (mapped,) = official_to_ours({key: torch.zeros(0)}) or (None,)
        if mapped is not None:
            out[key] = ours[mapped]
    return out


def official_yolact_config(cfg):
    """The official config name matching our YOLACT cfg."""
    plus = cfg.MODEL.YOLACT.MASKIOU.ENABLED
    return {(50, False): "yolact_resnet50_config", (101, False): "yolact_base_config",
            (50, True): "yolact_plus_resnet50_config",
            (101, True): "yolact_plus_base_config"}[(cfg.MODEL.RESNETS.DEPTH, plus)]  # fmt: skip


def import_official_yolact(path, config_name):
    """dbolya/yolact's modules from the checkout at ``path``, set to ``config_name``, with the
    runtime shims CPU needs (none edits the official files): ``torch.cuda.current_device``
    (called at import), a ``dcn_v2`` module whose ``DCN`` is our torchvision-based layer (same
    parameters and forward; YOLACT++), ``mask_proto_debug`` off. Returns a namespace with
    ``Yolact``, ``cfg``, ``postprocess`` and ``MultiBoxLoss``; build the network with
    ``ns.Yolact()`` and set ``net.detect.use_fast_nms = True`` (the default NMS needs Cython)."""
    import types

    from vision_plugins.layers import ModulatedDeformConv2d

    dcn = types.ModuleType("dcn_v2")
    dcn.DCN = ModulatedDeformConv2d
    sys.modules.setdefault("dcn_v2", dcn)
    torch.cuda.current_device = lambda: 0
    with official_imports(path, ("yolact", "data", "layers", "utils", "backbone")):
        from data import cfg, set_cfg
        from layers.modules import MultiBoxLoss
        from layers.output_utils import postprocess
        from yolact import Yolact

    set_cfg(config_name)
    cfg.mask_proto_debug = False
    return types.SimpleNamespace(
        Yolact=Yolact, cfg=cfg, postprocess=postprocess, MultiBoxLoss=MultiBoxLoss
    )


def import_official_yolact_edge(path, config_name):
    """haotian-liu/yolact_edge's modules from the checkout at ``path``, set to ``config_name``,
    with runtime shims only: ``torch.cuda.current_device`` (called at import), and stub
    ``pyximport`` / ``yolact_edge.utils.cython_nms`` modules (the Cython NMS is only used by the
    traditional NMS; set ``net.detect.use_fast_nms = True`` as ``eval.py`` does by default).
    Returns a namespace with ``Yolact``, ``cfg``, ``postprocess`` and ``OpticalFlowLoss``."""
    import types

    torch.cuda.current_device = lambda: 0
    pyx = types.ModuleType("pyximport")
    pyx.install = lambda *args, **kwargs: None
    sys.modules.setdefault("pyximport", pyx)
    with official_imports(path, ("yolact_edge",)):
        nms = types.ModuleType("yolact_edge.utils.cython_nms")
        nms.nms = None  # the traditional NMS only
        sys.modules["yolact_edge.utils.cython_nms"] = nms
        from yolact_edge.data.config import cfg, set_cfg
        from yolact_edge.layers.modules.optical_flow_loss import OpticalFlowLoss
        from yolact_edge.layers.output_utils import postprocess
        from yolact_edge.yolact import Yolact

    set_cfg(config_name)
    cfg.mask_proto_debug = False
    return types.SimpleNamespace(
        Yolact=Yolact, cfg=cfg, postprocess=postprocess, OpticalFlowLoss=OpticalFlowLoss
    )


@official_runner("YOLACT")
def yolact(path, cfg, model, image):
    """dbolya/yolact ``eval.py`` on one image: ``FastBaseTransform`` (bilinear resize to
    MAX_SIZE², mean/std, BGR->RGB; re-stated here because the official class allocates its
    constants on CUDA), the network with ``Detect`` (Fast NMS) and ``postprocess`` to the
    image size, under ``no_grad``, with the same weights as ``model``."""
    import torch.nn.functional as F

    ns = import_official_yolact(path, official_yolact_config(cfg))
    net = ns.Yolact()
    net.load_state_dict(_official_yolact_state(model, list(net.state_dict())))
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

    return run


def import_official_retinaface(path):
    """biubug6/Pytorch_Retinaface's modules from the checkout at ``path`` (no shim needed for
    inference; its ``MultiBoxLoss`` calls ``.cuda()``, see the optional test)."""
    import types

    with official_imports(path, ("data", "models", "layers", "utils")):
        from data import cfg_mnet, cfg_re50
        from layers.functions.prior_box import PriorBox
        from layers.modules import MultiBoxLoss
        from models.retinaface import RetinaFace
        from utils.box_utils import decode, decode_landm
        from utils.nms.py_cpu_nms import py_cpu_nms
    return types.SimpleNamespace(
        cfg_mnet=cfg_mnet, cfg_re50=cfg_re50, PriorBox=PriorBox, MultiBoxLoss=MultiBoxLoss,
        RetinaFace=RetinaFace, decode=decode, decode_landm=decode_landm, py_cpu_nms=py_cpu_nms,
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


@official_runner("RetinaFace")
def retinaface(path, cfg, model, image):
    """biubug6/Pytorch_Retinaface ``detect.py`` on one image at its own size (``resize = 1``):
    mean subtraction, the network, ``PriorBox``, ``decode`` / ``decode_landm``, score threshold,
    top-k, ``py_cpu_nms``, keep-top-k, under ``no_grad`` (detect.py disables gradients)."""
    ns = import_official_retinaface(path)
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

    return run


@official_runner("CenterNetOAP")
def centernet_oap(path, cfg, model, image):
    """xingyizhou/CenterNet ``CtdetDetector`` on one image (``fix_res`` at the image's own size,
    single scale, no flip; ResNet, ResDCN or Hourglass-104): ``pre_process`` (affine warp +
    mean/std), the network (its last stack), sigmoid,
    ``ctdet_decode`` (K = TOPK), ``ctdet_post_process`` and ``merge_outputs`` (no NMS), under
    ``no_grad``. ``path`` is the repository root (its ``src/lib`` is imported); for ResDCN a
    ``DCNv2.dcn_v2`` module whose ``DCN`` is our torchvision-based layer stands in for the CUDA
    extension; ``torch.utils.model_zoo.load_url`` returns nothing while the network is built
    (its constructor downloads ImageNet weights that are overwritten anyway)."""
    import types

    import cv2

    from vision_plugins.centernet.convert import official_to_ours
    from vision_plugins.layers import ModulatedDeformConv2d

    lib = os.path.join(path, "src", "lib")
    dcn = types.ModuleType("models.networks.DCNv2.dcn_v2")
    dcn.DCN = ModulatedDeformConv2d
    sys.modules.setdefault("models.networks.DCNv2.dcn_v2", dcn)
    c = cfg.MODEL.CENTERNET_OAP
    with official_imports(lib, ("models", "utils")):
        from models.decode import ctdet_decode
        from utils.image import get_affine_transform
        from utils.post_process import ctdet_post_process

        hourglass = cfg.MODEL.BACKBONE.NAME == "build_hourglass104_backbone"
        if hourglass:
            from models.networks.large_hourglass import get_large_hourglass_net as get_pose_net
        elif c.DECONV_DCN:
            from models.networks.resnet_dcn import get_pose_net
        else:
            from models.networks.msra_resnet import get_pose_net
    heads = {"hm": c.NUM_CLASSES, "wh": 2, "reg": 2}
    import torch.utils.model_zoo as model_zoo

    load_url = model_zoo.load_url
    model_zoo.load_url = lambda *args, **kwargs: {}  # no ImageNet download; weights set below
    try:
        net = get_pose_net(cfg.MODEL.RESNETS.DEPTH, heads, head_conv=c.HEAD_CONV)
    finally:
        model_zoo.load_url = load_url
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
            trans = get_affine_transform(centre, scale, 0, [w, h])
            inp = cv2.warpAffine(image, trans, (w, h), flags=cv2.INTER_LINEAR)
            inp = ((inp / 255.0 - mean) / std).astype(np.float32)
            x = torch.from_numpy(inp.transpose(2, 0, 1)[None])
            out = net(x)[-1]
            dets = ctdet_decode(out["hm"].sigmoid_(), out["wh"], reg=out["reg"], K=c.TOPK)
            dets = dets.numpy().reshape(1, -1, dets.shape[2])
            dets = ctdet_post_process(dets.copy(), [centre], [scale], h // 4, w // 4, classes)
            return {
                j: np.array(dets[0][j], np.float32).reshape(-1, 5) for j in range(1, classes + 1)
            }

    return run


def _cpool_standins():
    """Pure-PyTorch modules with the API of CornerNet's compiled ``_cpools`` extensions
    (``forward(x) -> [y]``, ``backward(x, grad) -> [grad_x]``, cumulative maxima), put into
    ``sys.modules`` before the official code is imported (nothing is compiled)."""
    import types

    from vision_plugins.layers.center_heatmaps import bottom_pool, left_pool, right_pool, top_pool

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
        sys.modules[name] = mod


def _nms_standin():
    """``external.nms`` (Cython, not built here): ``soft_nms`` / ``soft_nms_merge`` with the
    official in-place semantics, on ``vision_plugins.layers.soft_nms`` (checked against a loop of
    the official algorithm in tests/layers/test_soft_nms.py)."""
    import types

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
    sys.modules["external"], sys.modules["external.nms"] = package, nms


@official_runner("CornerNet", "CenterNetTriplet")
def cornernet(path, cfg, model, image):
    """princeton-vl/CornerNet (``CornerNet``) or Duankaiwen/CenterNet (``CenterNetTriplet``,
    CenterNet-104): the official ``test/coco.py::kp_detection`` itself on one image — scales,
    ``crop_image``, normalisation, image + flip batch, the network's ``_test`` and ``_decode``,
    ``_rescale_dets``, (the centre-region check), per-class soft-NMS (stale rows kept, as
    officially) and the per-image cut — with a one-image stand-in for the COCO ``db`` and the
    ``nnet`` wrapper (CPU, no CUDA). The compiled corner pools and the Cython soft-NMS are
    replaced by pure-Python stand-ins (``_cpool_standins``, ``_nms_standin``). The callable
    returns ``{class (1-based): (n, 5) array}``."""
    import importlib
    import tempfile
    import types

    import cv2

    from vision_plugins.cornernet.convert import hourglass_key

    triplet = cfg.MODEL.META_ARCHITECTURE == "CenterNetTriplet"
    c, s = cfg.MODEL.CORNERNET, cfg.MODEL.CORNERNET.SOFT_NMS
    _cpool_standins()
    _nms_standin()
    top = ("models", "utils", "config", "db", "nnet", "sample", "test", "external")
    with official_imports(path, top):
        sys.modules.pop("test", None)  # the standard library's package of that name
        models = importlib.import_module("models.CenterNet-104" if triplet else "models.CornerNet")
        from test.coco import kp_detection
    configs = {
        "top_k": cfg.MODEL.CENTERNET_TRIPLET.TOP_K if triplet else c.TOP_K,
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
    net = models.model(types.SimpleNamespace(configs=configs))
    ours = model.state_dict()
    keys = {k: hourglass_key(k) or k for k in net.state_dict()}
    net.load_state_dict({k: ours[v] for k, v in keys.items()})
    net.eval()
    workdir = tempfile.mkdtemp(prefix="vp_official_cornernet_")
    image_file = os.path.join(workdir, "image.png")
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
        kp_detection(db, NNet(), workdir)
        return dict(found)

    return run


def import_official_densepose(path):
    """detectron2's DensePose project from ``path`` (``projects/DensePose``) with runtime shims:
    a stand-in ``av`` module (video reading only) and the ``np.int`` / ``np.float`` aliases some
    of its modules still use."""
    import types

    av = types.ModuleType("av")
    av.frame = types.SimpleNamespace(Frame=object)
    av.container = types.SimpleNamespace(Container=object)
    sys.modules.setdefault("av", av)
    np.int, np.float = int, float  # removed from numpy >= 1.24, used by the project
    if path not in sys.path:
        sys.path.insert(0, path)
    import densepose

    return densepose
