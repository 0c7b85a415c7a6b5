"""PCKh: the MPII single-person pose metric, by either of two sets of rules.

A predicted joint is correct when its distance to the ground truth, divided by the person's head
size, is within ``threshold``. Joints not annotated (keypoint v = 0) are not counted; annotated
but occluded joints (v = 1) are. The head size is the annotation's ``head_size`` when it has one
(the official Stacked Hourglass h5 stores it as ``normalize``), else 0.6 × the diagonal of its
``head_box`` (MPII's normaliser, ``SC_BIAS``). Two protocols (dataset metadata ``pckh_protocol``):

- ``"mpii"`` (default; MPII's MATLAB evaluation): correct when distance ≤ threshold × head size;
  "Mean" (``PCKh@0.5`` / ``PCKh@0.1``) = the count-weighted mean over every joint except pelvis
  and thorax; table: head and the average of the left and right PCKh of shoulder … ankle.
- ``"shg"`` (princeton-vl/pytorch_stacked_hourglass ``test.py`` ``mpii_eval``, the evaluation
  behind its published 0.902 / 0.883): correct when distance < threshold × head size (strict);
  ``PCKh@t`` = correct / counted over **all 16** joints (pelvis and thorax included); table:
  ``SHG_GROUPS`` with left and right pooled (correct and counts added, not averaged), also split
  by the visibility flag (v = 2 "visible", v = 1 "not visible").
"""

import copy
import logging
from collections import OrderedDict

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator

from ..data.mpii import MPII_KEYPOINT_NAMES
from .build import gather_predictions, register_evaluator

__all__ = ["PCKhEvaluator", "compute_pckh", "pckh_counts", "SHG_GROUPS", "PROTOCOLS"]

logger = logging.getLogger(__name__)

HEAD_SIZE_FACTOR = 0.6  # MPII's SC_BIAS
PROTOCOLS = ("mpii", "shg")
_EXCLUDED_FROM_MEAN = ("pelvis", "thorax")
_GROUPS = ("head_top", "shoulder", "elbow", "wrist", "hip", "knee", "ankle")
# the official test.py's joint groups (MPII joint indices), in its order
SHG_GROUPS = OrderedDict(
    [
        ("ankle", (0, 5)),
        ("knee", (1, 4)),
        ("hip", (2, 3)),
        ("pelvis", (6,)),
        ("thorax", (7,)),
        ("neck", (8,)),
        ("head", (9,)),
        ("wrist", (10, 15)),
        ("elbow", (11, 14)),
        ("shoulder", (12, 13)),
    ]
)


def _head_sizes(head_boxes, head_sizes):
    if head_sizes is not None:
        return np.asarray(head_sizes, np.float64).reshape(-1)
    head_boxes = np.asarray(head_boxes, np.float64)
    return HEAD_SIZE_FACTOR * np.linalg.norm(head_boxes[:, 2:] - head_boxes[:, :2], axis=1)


def compute_pckh(
    pred, gt, visible, head_boxes=None, threshold=0.5, *, head_sizes=None, inclusive=True
):
    """Per-sample, per-joint correctness.

    Args:
        pred, gt: (N, K, 2) joint coordinates (pixels); visible: (N, K) bool, the joints to count
            (annotated); head_boxes: (N, 4) [x1, y1, x2, y2], or head_sizes: (N,) normalisers;
        inclusive: distance ≤ threshold × head size counts as correct (MPII's MATLAB rule);
            False: < (the official Stacked Hourglass rule).
    Returns:
        (correct (N, K) bool, counted (N, K) bool): counted = visible. A NaN or infinite
        prediction is wrong.
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    head_size = _head_sizes(head_boxes, head_sizes)
    bad = np.flatnonzero(~(head_size > 0))
    if len(bad):
        what = head_sizes if head_sizes is not None else head_boxes
        raise ValueError(f"head box of zero size for sample(s) {bad.tolist()}: "
                         f"{np.asarray(what)[bad]}")  # fmt: skip
    # bit-equal to the official per-joint ``np.linalg.norm(p - g) / normalize``: a 1-D norm is
    # sqrt(x.dot(x)), and BLAS's dot may fuse x1² + x0² (FMA), which the elementwise
    # norm(..., axis=2) does not; a (1×2)·(2×1) matmul per joint gives dot's rounding. This
    # decides distances within one ulp of the bound (exact ties: correct only when inclusive).
    diff = np.ascontiguousarray(pred - gt)
    error = np.sqrt((diff[..., None, :] @ diff[..., :, None])[..., 0, 0]) / head_size[:, None]
    within = error <= threshold if inclusive else error < threshold
    visible = np.asarray(visible, bool)
    return within & visible, visible


def pckh_counts(correct, counted, visible_flag=None):
    """The official ``mpii_eval`` tables as integers: ``{"all" | "visible" | "not visible":
    {"total" | group of SHG_GROUPS: [correct, count]}}``; ``visible_flag`` (N, 16) splits the
    counted joints (None: every counted joint is "visible")."""
    correct, counted = np.asarray(correct, bool), np.asarray(counted, bool)
    vis = counted if visible_flag is None else np.asarray(visible_flag, bool)
    out = {}
    for split, mask in (("all", counted), ("visible", counted & vis),
                        ("not visible", counted & ~vis)):  # fmt: skip
        c, n = (correct & mask).sum(0), mask.sum(0)
        table = {"total": [int(c.sum()), int(n.sum())]}
        for g, joints in SHG_GROUPS.items():
            table[g] = [int(c[list(joints)].sum()), int(n[list(joints)].sum())]
        out[split] = table
    return out


def _summary(correct, counted, names):
    per_joint = 100.0 * correct.sum(0) / np.maximum(counted.sum(0), 1)
    counts = counted.sum(0).astype(np.float64)
    in_mean = np.array([n not in _EXCLUDED_FROM_MEAN for n in names]) & (counts > 0)
    return per_joint, float((per_joint * counts)[in_mean].sum() / counts[in_mean].sum())


def _percent(c_n):
    return 100.0 * c_n[0] / max(c_n[1], 1)


class PCKhEvaluator(DatasetEvaluator):
    """PCKh@0.5 (and @0.1) of ``instances.pred_keypoints`` against an MPII-style dataset.

    Each dataset dict is one person (top-down); the highest-scoring predicted instance is its
    prediction (a sample with no prediction counts as wrong on every counted joint). Ground truth
    (keypoints with visibility, ``head_size`` or ``head_box``) is read from the registered dataset
    by image_id. ``protocol``: ``"mpii"`` or ``"shg"`` (see the module docstring); None = the
    dataset metadata's ``pckh_protocol``, else ``"mpii"``.
    """

    def __init__(self, dataset_name, distributed=True, output_dir=None, protocol=None):
        self._dataset_name = dataset_name
        self._distributed = distributed
        self._output_dir = output_dir
        meta = MetadataCatalog.get(dataset_name)
        self._names = list(meta.keypoint_names)
        self._protocol = protocol or meta.get("pckh_protocol", "mpii")
        if self._protocol not in PROTOCOLS:
            raise ValueError(f"{dataset_name}: unknown PCKh protocol {self._protocol!r}, "
                             f"expected one of {PROTOCOLS}")  # fmt: skip
        if self._protocol == "shg" and tuple(self._names) != MPII_KEYPOINT_NAMES:
            raise ValueError(f"{dataset_name}: the 'shg' PCKh protocol needs MPII's 16 joints")
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
        pred = np.array(
            [predictions[i] if predictions[i] is not None else np.full((k, 2), np.inf) for i in ids]
        )
        results = self.compute([gt[i] for i in ids], pred)
        return {"pckh": copy.deepcopy(results)}

    def compute(self, annotations, pred):
        """The results for person annotations (dataset dicts' ``annotations[0]``) and their
        (N, K, 2) predictions."""
        k = len(self._names)
        kps = np.array([np.reshape(a["keypoints"], (k, 3)) for a in annotations], np.float64)
        if all("head_size" in a for a in annotations):
            norm = {"head_sizes": [a["head_size"] for a in annotations]}
        else:
            norm = {"head_boxes": [a["head_box"] for a in annotations]}
        shg = self._protocol == "shg"
        results = OrderedDict()
        for thr in (0.5, 0.1):
            correct, counted = compute_pckh(pred, kps[..., :2], kps[..., 2] > 0,
                                            threshold=thr, inclusive=not shg, **norm)  # fmt: skip
            per_joint, mean = _summary(correct, counted, self._names)
            if shg:
                table = pckh_counts(correct, counted, kps[..., 2] > 1)
                results[f"PCKh@{thr}"] = _percent(table["all"]["total"])
                for split in ("visible", "not visible"):
                    key = split.replace(" ", "_")
                    results[f"PCKh@{thr}-{key}"] = _percent(table[split]["total"])
            else:
                results[f"PCKh@{thr}"] = mean
            if thr == 0.1:  # per joint at the strict bound too ("PCKh@0.1-<joint>")
                results.update({f"PCKh@0.1-{n}": float(v) for n, v in zip(self._names, per_joint)})
            if thr == 0.5:
                results.update({f"PCKh-{n}": float(v) for n, v in zip(self._names, per_joint)})
                if shg:
                    for g in SHG_GROUPS:
                        results[f"PCKh-{g.capitalize()}"] = _percent(table["all"][g])
                elif tuple(self._names) == MPII_KEYPOINT_NAMES:
                    results.update(self._grouped(per_joint))
        return results

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
