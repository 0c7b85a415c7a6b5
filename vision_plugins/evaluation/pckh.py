"""PCKh: the MPII single-person pose metric.

A predicted joint is correct when its distance to the ground truth is at most ``threshold`` ×
the head size, head size = 0.6 × the diagonal of the annotated head box (MPII's normaliser).
Joints not annotated as visible are excluded. Per joint, PCKh = correct / visible. As in MPII's
evaluation, "Mean" is the visible-count-weighted mean over all joints except pelvis and thorax
(when the joints are MPII's), reported at 0.5 and at 0.1.
"""

import copy
import logging
from collections import OrderedDict

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator

from ..data.mpii import MPII_KEYPOINT_NAMES
from .build import gather_predictions, register_evaluator

__all__ = ["PCKhEvaluator", "compute_pckh"]

logger = logging.getLogger(__name__)

HEAD_SIZE_FACTOR = 0.6  # MPII's SC_BIAS
_EXCLUDED_FROM_MEAN = ("pelvis", "thorax")
_GROUPS = ("head_top", "shoulder", "elbow", "wrist", "hip", "knee", "ankle")


def compute_pckh(pred, gt, visible, head_boxes, threshold=0.5):
    """Per-sample, per-joint correctness.

    Args:
        pred, gt: (N, K, 2) joint coordinates (pixels); visible: (N, K) bool;
        head_boxes: (N, 4) [x1, y1, x2, y2].
    Returns:
        (correct (N, K) bool, counted (N, K) bool): counted = visible.
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    head_boxes = np.asarray(head_boxes, np.float64)
    head_size = HEAD_SIZE_FACTOR * np.linalg.norm(head_boxes[:, 2:] - head_boxes[:, :2], axis=1)
    bad = np.flatnonzero(~(head_size > 0))
    if len(bad):
        raise ValueError(f"head box of zero size for sample(s) {bad.tolist()}: {head_boxes[bad]}")
    dist = np.linalg.norm(pred - gt, axis=2) / head_size[:, None]
    visible = np.asarray(visible, bool)
    return (dist <= threshold) & visible, visible


def _summary(correct, counted, names):
    per_joint = 100.0 * correct.sum(0) / np.maximum(counted.sum(0), 1)
    counts = counted.sum(0).astype(np.float64)
    in_mean = np.array([n not in _EXCLUDED_FROM_MEAN for n in names]) & (counts > 0)
    return per_joint, float((per_joint * counts)[in_mean].sum() / counts[in_mean].sum())


class PCKhEvaluator(DatasetEvaluator):
    """PCKh@0.5 (and @0.1) of ``instances.pred_keypoints`` against an MPII-style dataset.

    Each dataset dict is one person (top-down); the highest-scoring predicted instance is its
    prediction (a sample with no prediction counts as wrong on every visible joint). Ground truth
    (keypoints with visibility, ``head_box``) is read from the registered dataset by image_id.
    """

    def __init__(self, dataset_name, distributed=True, output_dir=None):
        self._dataset_name = dataset_name
        self._distributed = distributed
        self._output_dir = output_dir
        self._names = list(MetadataCatalog.get(dataset_name).keypoint_names)
        self._predictions = {}

    def reset(self):
        self._predictions = {}

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            inst = out["instances"].to("cpu")
            if len(inst) == 0:
                self._predictions[inp["image_id"]] = None
                continue
            best = int(inst.scores.argmax()) if inst.has("scores") else 0
            self._predictions[inp["image_id"]] = inst.pred_keypoints[best, :, :2].numpy()

    def evaluate(self):
        predictions = gather_predictions(self._predictions, self._distributed)
        if predictions is None:
            return {}
        gt = {d["image_id"]: d["annotations"][0] for d in DatasetCatalog.get(self._dataset_name)}
        missing = sorted(set(gt) - set(predictions))
        if missing:
            logger.warning(f"PCKh: {len(missing)} samples were not evaluated (e.g. {missing[:5]})")
        ids = sorted(set(gt) & set(predictions))
        if not ids:
            return {}
        k = len(self._names)
        kps = np.array([np.reshape(gt[i]["keypoints"], (k, 3)) for i in ids])
        head = np.array([gt[i]["head_box"] for i in ids])
        pred = np.array(
            [predictions[i] if predictions[i] is not None else np.full((k, 2), np.inf) for i in ids]
        )
        results = OrderedDict()
        for thr in (0.5, 0.1):
            correct, counted = compute_pckh(pred, kps[..., :2], kps[..., 2] > 0, head, thr)
            per_joint, mean = _summary(correct, counted, self._names)
            results[f"PCKh@{thr}"] = mean
            if thr == 0.5:
                results.update({f"PCKh-{n}": float(v) for n, v in zip(self._names, per_joint)})
                if tuple(self._names) == MPII_KEYPOINT_NAMES:
                    results.update(self._grouped(per_joint))
        return {"pckh": copy.deepcopy(results)}

    def _grouped(self, per_joint):
        """MPII's table: head, and left/right averages of shoulder ... ankle (PCKh@0.5)."""
        value = dict(zip(self._names, per_joint))
        out = {"PCKh-Head": float(value["head_top"])}
        for g in _GROUPS[1:]:
            out[f"PCKh-{g.capitalize()}"] = float((value[f"left_{g}"] + value[f"right_{g}"]) / 2)
        return out


@register_evaluator("pckh")
def _pckh(cfg, dataset_name, output_folder):
    return PCKhEvaluator(dataset_name, output_dir=output_folder)
