"""``build_evaluator(cfg, dataset_name)``: the evaluator named by the dataset's ``evaluator_type``.

``EVALUATOR_REGISTRY`` maps an ``evaluator_type`` to a function
``(cfg, dataset_name, output_folder) -> DatasetEvaluator``: the task metrics (PCKh, WIDER FACE AP,
VPQ, GPS, image translation) and detectron2's COCO, COCO-panoptic and sem-seg evaluators. The
model's spec may add evaluators of its own (``ArchSpec.evaluators``, e.g. UPSNet's mIoU on
panoptic sets).
"""

import itertools
import os

from detectron2.data import MetadataCatalog
from detectron2.evaluation import COCOPanopticEvaluator, DatasetEvaluators, SemSegEvaluator
from detectron2.utils import comm

from ..data import prepare_dataset_files
from ..registry import Registry
from ..spec import spec_for
from .coco import MaskScoreCOCOEvaluator
from .densepose import DensePoseGPSEvaluator, geodesics_for
from .video_instances import VideoInstanceEvaluator
from .vpq import AnnotatedFramesOnly, VPQEvaluator

__all__ = [
    "EVALUATOR_REGISTRY",
    "build_evaluator",
    "gather_predictions",
    "keypoint_oks_sigmas",
    "register_evaluator",
]

EVALUATOR_REGISTRY = Registry("VP_EVALUATOR")
EVALUATOR_REGISTRY.__doc__ = "evaluator_type -> (cfg, dataset_name, output_folder) -> evaluator"


def gather_predictions(predictions, distributed):
    """``{image_id: prediction}`` of every process on the main process (None elsewhere)."""
    if not distributed:
        return predictions
    comm.synchronize()
    gathered = comm.gather(predictions, dst=0)
    if not comm.is_main_process():
        return None
    return dict(itertools.chain(*[p.items() for p in gathered]))


def register_evaluator(evaluator_type):
    """Decorator: the builder of ``evaluator_type`` (registered twice raises)."""
    return EVALUATOR_REGISTRY.register_as(evaluator_type)


def keypoint_oks_sigmas(cfg, dataset_name):
    """``TEST.KEYPOINT_OKS_SIGMAS`` checked against the dataset's ``keypoint_names``: COCO's own
    17 sigmas are the default only for 17 keypoints; any other K needs K sigmas."""
    sigmas = list(cfg.TEST.KEYPOINT_OKS_SIGMAS)
    names = MetadataCatalog.get(dataset_name).get("keypoint_names")
    if names is None:
        return sigmas
    if sigmas and len(sigmas) != len(names):
        raise ValueError(
            f"TEST.KEYPOINT_OKS_SIGMAS has {len(sigmas)} values but dataset {dataset_name!r} has "
            f"{len(names)} keypoints"
        )
    if not sigmas and len(names) != 17:
        raise ValueError(
            f"dataset {dataset_name!r} has {len(names)} keypoints; COCO keypoint AP needs one OKS "
            f"sigma per keypoint in TEST.KEYPOINT_OKS_SIGMAS (COCO's defaults cover 17)"
        )
    return sigmas


def _coco_evaluator(cfg, dataset_name, output_folder):
    return MaskScoreCOCOEvaluator(
        dataset_name,
        output_dir=output_folder,
        kpt_oks_sigmas=keypoint_oks_sigmas(cfg, dataset_name),
    )


@register_evaluator("coco")
def _coco(cfg, dataset_name, output_folder):
    return _coco_evaluator(cfg, dataset_name, output_folder)


@register_evaluator("sem_seg")
def _sem_seg(cfg, dataset_name, output_folder):
    return SemSegEvaluator(dataset_name, distributed=True, output_dir=output_folder)


@register_evaluator("coco_panoptic_seg")
def _coco_panoptic(cfg, dataset_name, output_folder):
    """PQ / SQ / RQ; box and mask AP when the model has a mask head and the dataset an
    instances json."""
    meta = MetadataCatalog.get(dataset_name)
    evaluators = [COCOPanopticEvaluator(dataset_name, output_folder)]
    if (cfg.MODEL.MASK_ON or cfg.MODEL.KEYPOINT_ON) and meta.get("json_file"):
        evaluators.append(_coco_evaluator(cfg, dataset_name, output_folder))
    return DatasetEvaluators(evaluators)


@register_evaluator("densepose")
def _densepose(cfg, dataset_name, output_folder):
    """GPS / GPSm AP and per-point metrics, plus box and segm AP (segm: the DensePose body
    masks, or the mask head's when MASK_ON)."""
    return DatasetEvaluators(
        [
            DensePoseGPSEvaluator(dataset_name, geodesics_for(dataset_name)),
            _coco_evaluator(cfg, dataset_name, output_folder),
        ]
    )


def build_evaluator(cfg, dataset_name, output_folder=None):
    """Evaluator for ``dataset_name`` chosen by its metadata ``evaluator_type``, plus the
    evaluators the model's spec adds."""
    if output_folder is None:
        output_folder = os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
    prepare_dataset_files(dataset_name)  # evaluators read metadata.json_file when built
    evaluator_type = MetadataCatalog.get(dataset_name).get("evaluator_type")
    if evaluator_type not in EVALUATOR_REGISTRY:
        raise NotImplementedError(
            f"dataset {dataset_name!r} has evaluator_type={evaluator_type!r}, which has no "
            f"evaluator; registered types: {EVALUATOR_REGISTRY.names()}"
        )
    evaluator = EVALUATOR_REGISTRY.get(evaluator_type)(cfg, dataset_name, output_folder)
    spec = spec_for(cfg)
    extra = spec.evaluators(cfg, dataset_name, output_folder) if spec and spec.evaluators else []
    if not extra:
        return evaluator
    inner = evaluator._evaluators if isinstance(evaluator, DatasetEvaluators) else [evaluator]
    return DatasetEvaluators(list(inner) + list(extra))


@register_evaluator("video_panoptic")
def _video_panoptic(cfg, dataset_name, output_folder):
    """VPQ^k for k in 0, 5, 10, 15 and their mean (``VPQEvaluator``), plus image PQ / SQ / RQ on
    the annotated frames (``COCOPanopticEvaluator``; metadata ``panoptic_json`` /
    ``panoptic_root`` hold exactly the annotated frames). VPQ goes first: COCOPanopticEvaluator
    rewrites the ``segments_info`` of the outputs it is given."""
    return DatasetEvaluators(
        [
            VPQEvaluator(dataset_name, output_dir=output_folder),
            AnnotatedFramesOnly(COCOPanopticEvaluator(dataset_name, output_folder)),
        ]
    )


@register_evaluator("video_instances")
def _video_instances(cfg, dataset_name, output_folder):
    """Per-frame COCO box / mask AP on the annotated frames, pooled over the videos and split by
    the outputs' ``is_keyframe`` (``VideoInstanceEvaluator``)."""
    return VideoInstanceEvaluator(dataset_name, output_dir=output_folder)
