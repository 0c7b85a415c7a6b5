"""Pure-Python stand-in for detectron2's compiled extension ``detectron2._C``.

Installed as ``detectron2/_C.py`` by ``vision_plugins/compat/install_detectron2.py`` when no
compiled detectron2 can be built (no compiler/CUDA toolchain from the package registries). It is
self-contained: it imports only numpy, pycocotools and torch, never vision_plugins.

* ``InstanceAnnotation``, ``COCOevalEvaluateImages``, ``COCOevalAccumulate`` back detectron2's
  ``COCOeval_opt`` (used by ``COCOEvaluator`` by default). They run pycocotools' own per-image
  matching and accumulation on the data ``COCOeval_opt`` hands over, so the numbers are exactly
  those of ``pycocotools.cocoeval.COCOeval``.
* Deformable convolution and the rotated-box operators raise ``NotImplementedError`` naming the
  alternative.
"""

import copy

import torch
from pycocotools.cocoeval import COCOeval

VISION_PLUGINS_STANDIN = True

_REAL_D2 = "or install a compiled detectron2 with DETECTRON2_SOURCE=<pip spec or path> make setup"


def get_compiler_version():
    return "none (vision_plugins pure-Python stand-in for detectron2._C)"


def get_cuda_version():
    return "none (vision_plugins pure-Python stand-in for detectron2._C)"


def has_cuda():
    return False


class InstanceAnnotation(dict):
    """One ground-truth or detection, as pycocotools' ``evaluateImg`` reads it."""

    def __init__(self, id, score, area, is_crowd, ignore):
        super().__init__(id=id, score=score, area=area, iscrowd=int(is_crowd), ignore=int(ignore))


class _EvalImagesRun(COCOeval):
    """A COCOeval whose per-image state is given, not computed from COCO objects."""

    def __init__(self, iou_thrs, ious, ground_truth_instances, detected_instances):
        super().__init__(iouType="bbox")  # iouType is irrelevant: IoUs are given
        p = self.params
        p.iouThrs = iou_thrs
        p.useCats = 1  # COCOeval_opt already flattened categories when useCats is off
        p.imgIds = list(range(len(ground_truth_instances)))
        p.catIds = list(range(len(ground_truth_instances[0]) if ground_truth_instances else 0))
        for i, per_img in enumerate(ground_truth_instances):
            for k, gts in enumerate(per_img):
                self._gts[i, k] = gts
                self._dts[i, k] = detected_instances[i][k]
                self.ious[i, k] = ious[i][k]


def COCOevalEvaluateImages(area_ranges, max_det, iou_thrs, ious, gts, dts):
    """Per-(category, area range, image) matching, ordered as pycocotools' ``evalImgs``."""
    run = _EvalImagesRun(iou_thrs, ious, gts, dts)
    p = run.params
    return [
        run.evaluateImg(i, k, a_rng, max_det)
        for k in p.catIds
        for a_rng in area_ranges
        for i in p.imgIds
    ]


def COCOevalAccumulate(params, eval_imgs):
    run = COCOeval(iouType=params.iouType)
    run.params = copy.deepcopy(params)
    run._paramsEval = params
    run.evalImgs = eval_imgs
    run.accumulate()
    return run.eval


def _unsupported(name, alternative):
    def fn(*args, **kwargs):
        raise NotImplementedError(
            f"detectron2 op '{name}' needs detectron2's compiled extension, which this "
            f"environment replaces by a pure-Python stand-in. Use {alternative}, {_REAL_D2}."
        )

    fn.__name__ = name
    return fn


_DEFORM = "torchvision.ops.DeformConv2d / torchvision.ops.deform_conv2d (CPU+GPU, forward+backward)"
deform_conv_forward = _unsupported("deform_conv_forward", _DEFORM)
deform_conv_backward_input = _unsupported("deform_conv_backward_input", _DEFORM)
deform_conv_backward_filter = _unsupported("deform_conv_backward_filter", _DEFORM)
modulated_deform_conv_forward = _unsupported(
    "modulated_deform_conv_forward", "torchvision.ops.deform_conv2d(..., mask=...)"
)
modulated_deform_conv_backward = _unsupported(
    "modulated_deform_conv_backward", "torchvision.ops.deform_conv2d(..., mask=...)"
)

_ROTATED = {
    "nms_rotated(Tensor boxes, Tensor scores, float iou_threshold) -> Tensor": (
        "axis-aligned boxes with torchvision.ops.nms"
    ),
    "box_iou_rotated(Tensor boxes1, Tensor boxes2) -> Tensor": (
        "axis-aligned boxes with torchvision.ops.box_iou"
    ),
    "roi_align_rotated_forward(Tensor input, Tensor rois, float spatial_scale, int pooled_height, "
    "int pooled_width, int sampling_ratio) -> Tensor": (
        "axis-aligned boxes with torchvision.ops.roi_align"
    ),
    "roi_align_rotated_backward(Tensor grad, Tensor rois, float spatial_scale, int pooled_height, "
    "int pooled_width, int batch_size, int channels, int height, int width, int sampling_ratio)"
    " -> Tensor": "axis-aligned boxes with torchvision.ops.roi_align",
}


def _register_rotated_ops():
    """Define ``torch.ops.detectron2.*`` rotated ops so that calling them explains itself."""
    if hasattr(torch.ops, "detectron2") and hasattr(torch.ops.detectron2, "nms_rotated"):
        return
    lib = torch.library.Library("detectron2", "DEF")
    for schema, alternative in _ROTATED.items():
        name = schema.split("(")[0]
        lib.define(schema)
        lib.impl(name, _unsupported(name, alternative), "CompositeExplicitAutograd")
    return lib


_LIBRARY = _register_rotated_ops()
