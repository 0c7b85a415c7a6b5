"""WIDER FACE evaluation (``evaluator_type: widerface``): AP on the easy / medium / hard sets
with the official protocol, and landmark NME.

The protocol is that of the WIDER FACE toolkit's Python port (``widerface_evaluate/
evaluation.py`` of biubug6/Pytorch_Retinaface, after wondervictor/WiderFace-Evaluation, itself a
port of the MATLAB ``eval_tools``), re-implemented in NumPy and vectorised; on the real val ground
truth it gives the official numbers to the last bit (``tests/evaluation/test_widerface_real.py``):

- scores are min-max normalised over all predictions of the dataset, with the official bounds
  ``lo = min(1, min score)`` and ``hi = max(0, max score)`` (``(s - lo) / (hi - lo)``; when
  ``hi == lo`` every normalised score is NaN and nothing is ever above a threshold: AP 0);
- per image the predictions are taken in descending score order (stable: ties keep their given
  order, as the lines of an official prediction file); each is matched to the ground-truth face
  of highest IoU (the first one on ties; faces already matched are not excluded), areas
  pixel-inclusive (``x2 = x + w``, width ``x2 - x1 + 1``), when that IoU is >= 0.5. A prediction
  whose face is not counted at the level (an "ignored" face) is neither a true nor a false
  positive; one whose face is counted recalls it (again: a second hit is a false positive);
- every listed face is evaluated, degenerate ones (w or h <= 0) included; a level counts the faces
  of its list (the toolkit's ``gt_list``), all others are ignored;
- images without any ground-truth face or without predictions are skipped (their predictions
  are neither true nor false positives); the faces of every image count in the recall;
- at each of the 1000 thresholds ``1 - (t + 1) / 1000`` an image contributes the proposals and
  recalled faces up to its last prediction scoring >= the threshold; precision = recalled /
  proposals (NaN when 0 / 0), recall = recalled / counted faces; AP = VOC all-point.

Landmarks: for every counted face matched by a prediction (IoU >= 0.5, the best-scoring match)
whose ground truth has landmarks, the mean point error divided by the inter-ocular distance
(NME, %), over all such faces of the hard set.
"""

import copy
import logging
from collections import OrderedDict

import numpy as np
from detectron2.data import DatasetCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.structures import BoxMode

from ..data.widerface import WIDER_LEVELS
from .build import gather_predictions, register_evaluator

__all__ = [
    "WiderFaceEvaluator",
    "wider_ap",
    "wider_thresholds",
    "normalize_scores",
    "voc_ap",
    "box_overlaps_plus_one",
]

logger = logging.getLogger(__name__)
THRESH_NUM = 1000


def wider_thresholds(thresh_num=THRESH_NUM):
    """The official score thresholds, descending: ``1 - (t + 1) / thresh_num``."""
    return 1 - (np.arange(thresh_num) + 1) / thresh_num


def box_overlaps_plus_one(a, b):
    """IoU of (N, 4) and (K, 4) XYXY boxes with pixel-inclusive (+1) areas: the toolkit's
    ``bbox_overlaps`` (0 unless the +1 intersection width and height are both > 0)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + 1
    hit = (iw > 0) & (ih > 0)
    inter = np.where(hit, iw * ih, 0.0)
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(hit, inter / np.where(hit, union, 1.0), 0.0)


def normalize_scores(predictions):
    """The official min-max normalisation over all predictions (new arrays, scores float64):
    ``(s - lo) / (hi - lo)`` with ``lo = min(1, min s)``, ``hi = max(0, max s)``."""
    scores = [np.asarray(p, np.float64).reshape(-1, 5)[:, 4] for p in predictions]
    flat = np.concatenate(scores) if scores else np.zeros(0)
    if not np.isfinite(flat).all():
        raise ValueError("WIDER FACE evaluation: a prediction score is NaN or infinite")
    lo = min(1.0, float(flat.min())) if len(flat) else 1.0
    hi = max(0.0, float(flat.max())) if len(flat) else 0.0
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for p in predictions:
            p = np.array(p, np.float64).reshape(-1, 5)
            p[:, 4] = (p[:, 4] - lo) / (hi - lo)
            out.append(p)
    return out


def _counted(face_levels, num_faces, levels):
    """{level: bool (K,)} from per-face level names (a face counts at its level and every later,
    i.e. harder, one) or from ``{level: mask or 1-based indices}`` (the toolkit's lists)."""
    if isinstance(face_levels, dict):
        out = {}
        for level in levels:
            sel = np.asarray(face_levels.get(level, []))
            mask = np.zeros(num_faces, bool)
            if sel.dtype == bool:
                mask[:] = sel.reshape(-1)
            elif sel.size:
                mask[sel.reshape(-1).astype(np.int64) - 1] = True
            out[level] = mask
        return out
    face_levels = list(face_levels)
    if len(face_levels) != num_faces:
        raise ValueError(f"{len(face_levels)} face levels for {num_faces} faces")
    return {
        level: np.array([lv in levels[: k + 1] for lv in face_levels], bool).reshape(num_faces)
        for k, level in enumerate(levels)
    }


def _first_hits(best, candidate):
    """Per prediction: True for the first candidate prediction of each face ``best``."""
    idx = np.flatnonzero(candidate)
    first = np.zeros(len(best), bool)
    if len(idx):
        _, pos = np.unique(best[idx], return_index=True)
        first[idx[pos]] = True
    return first


def wider_ap(predictions, ground_truth, levels=WIDER_LEVELS, iou_thresh=0.5):
    """WIDER FACE AP per level, the official way (see the module docstring).

    ``predictions``: per image (N, 5) ``[x1, y1, x2, y2, score]`` (any order: sorted here by
    descending score, stable). ``ground_truth``: per image ``(boxes (K, 4) XYXY, face_levels)``,
    ``face_levels`` either the level name of each face (easy ⊂ medium ⊂ hard: a face counts at
    its level and the harder ones; any other name, e.g. "none": never counted) or
    ``{level: bool mask (K,) or 1-based face indices}`` (the toolkit's ``gt_list``). Every face
    is evaluated, degenerate ones included. Returns ``{level: AP in [0, 1]}``."""
    levels = tuple(levels)
    thresholds = wider_thresholds()
    ascending = thresholds[::-1]
    predictions = normalize_scores(predictions)
    starts, ends = [], []
    values = {level: ([], []) for level in levels}  # cumulated proposals, recalled faces
    faces = dict.fromkeys(levels, 0)
    for pred, (gt, face_levels) in zip(predictions, ground_truth):
        gt = np.asarray(gt, np.float64).reshape(-1, 4)
        counted = _counted(face_levels, len(gt), levels)
        for level in levels:
            faces[level] += int(counted[level].sum())
        if len(gt) == 0 or len(pred) == 0:
            continue
        pred = pred[np.argsort(-pred[:, 4], kind="stable")]
        overlaps = box_overlaps_plus_one(pred[:, :4], gt)
        best = overlaps.argmax(1)
        matched = overlaps[np.arange(len(pred)), best] >= iou_thresh
        # last prediction scoring >= a threshold = last one whose suffix max is >= it
        suffix = np.fmax.accumulate(pred[::-1, 4])[::-1]
        first_t = len(thresholds) - np.searchsorted(ascending, suffix, side="right")
        first_t[np.isnan(suffix)] = len(thresholds)
        starts.append(first_t)
        ends.append(np.append(first_t[1:], len(thresholds)))
        for level in levels:
            hit_counted = matched & counted[level][best]
            proposal = ~(matched & ~counted[level][best])
            values[level][0].append(np.cumsum(proposal))
            values[level][1].append(np.cumsum(_first_hits(best, hit_counted)))
    out = {}
    start = np.concatenate(starts) if starts else np.zeros(0, np.int64)
    end = np.concatenate(ends) if ends else np.zeros(0, np.int64)
    for level in levels:
        curve = np.zeros((len(thresholds), 2))
        for c, v in enumerate(values[level]):
            v = np.concatenate(v).astype(np.float64) if v else np.zeros(0)
            diff = np.bincount(start, v, len(thresholds) + 1)
            diff -= np.bincount(end, v, len(thresholds) + 1)
            curve[:, c] = np.cumsum(diff)[:-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = curve[:, 1] / curve[:, 0]
            recall = curve[:, 1] / faces[level]
        out[level] = voc_ap(recall, precision)
    return out


def voc_ap(recall, precision):
    """VOC all-point interpolated AP (the toolkit's ``voc_ap``: a NaN precision propagates to
    the lower recalls of the envelope, as ``np.maximum`` does there)."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def landmark_nme(predictions, ground_truth):
    """Mean over matched faces with landmarks of mean point error / inter-ocular distance."""
    errors = []
    for pred, (boxes, points) in zip(predictions, ground_truth):
        if len(pred["boxes"]) == 0 or len(boxes) == 0:
            continue
        iou = box_overlaps_plus_one(boxes, pred["boxes"])
        order = np.argsort(-pred["scores"], kind="stable")
        for j in range(len(boxes)):
            if points[j] is None:
                continue
            match = [i for i in order if iou[j, i] >= 0.5]
            if not match:
                continue
            ocular = np.linalg.norm(points[j][0] - points[j][1])
            if ocular <= 0:
                continue
            err = np.linalg.norm(pred["points"][match[0]] - points[j], axis=1).mean()
            errors.append(err / ocular)
    return 100.0 * float(np.mean(errors)) if errors else float("nan"), len(errors)


def _official_faces(d):
    """``(boxes XYXY, {level: mask})`` of every listed face of a dataset dict that carries the
    official ground truth (``wider_gt``, see ``vision_plugins.data.widerface``), else None."""
    gt = d.get("wider_gt")
    if gt is None:
        return None
    xywh = np.asarray(gt["boxes"], np.float64).reshape(-1, 4)
    xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)  # x2 = x + w, as the kit
    return xyxy, {level: np.asarray(m, bool) for level, m in gt["counted"].items()}


class WiderFaceEvaluator(DatasetEvaluator):
    """WIDER FACE AP (easy / medium / hard, in %; ``wider_ap``) and landmark NME (%) for a
    dataset in the ``vision_plugins.data.widerface`` format. Predictions: ``Instances`` with
    ``pred_boxes``, ``scores`` and (optionally) ``pred_keypoints`` (N, 5, 3).

    The ground truth of AP is, per image, the dict's ``wider_gt`` when present (every face of the
    official ``.mat`` or of ``label.txt``, degenerate ones included, with the faces counted at
    each level), else its annotations with their ``wider_level``. Boxes are used as predicted
    (floats); the official ``test_widerface.py`` truncates them to integers when it writes its
    prediction files, which is a choice of that detector script, not of the evaluation."""

    def __init__(self, dataset_name, distributed=True):
        self._dataset_name = dataset_name
        self._distributed = distributed
        self._predictions = {}

    def reset(self):
        self._predictions = {}

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            inst = out["instances"].to("cpu")
            boxes = inst.pred_boxes.tensor.numpy().astype(np.float64)
            scores = inst.scores.numpy().astype(np.float64)
            pred = {"boxes": boxes, "scores": scores}
            if inst.has("pred_keypoints"):
                pred["points"] = inst.pred_keypoints[:, :, :2].numpy().astype(np.float64)
            self._predictions[inp["image_id"]] = pred

    def evaluate(self):
        predictions = gather_predictions(self._predictions, self._distributed)
        if predictions is None:
            return {}
        dicts = DatasetCatalog.get(self._dataset_name)
        preds, gts, landmark_gts, landmark_preds = [], [], [], []
        for d in dicts:
            anns = [a for a in d["annotations"] if not a.get("iscrowd", 0)]
            boxes = np.array(
                [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in anns],
                np.float64,
            ).reshape(-1, 4)
            levels = [a.get("wider_level", "easy") for a in anns]
            p = predictions.get(d["image_id"], {"boxes": np.zeros((0, 4)), "scores": np.zeros(0)})
            preds.append(np.concatenate([p["boxes"], p["scores"][:, None]], 1))
            gts.append(_official_faces(d) or (boxes, levels))
            points = []
            for a in anns:
                kp = np.asarray(a.get("keypoints", [0] * 15), np.float64).reshape(-1, 3)
                points.append(kp[:, :2] if (kp[:, 2] > 0).all() else None)
            landmark_gts.append((boxes, points))
            landmark_preds.append(copy.copy(p))
        ap = wider_ap(preds, gts)
        res = OrderedDict((f"AP_{k}", 100.0 * v) for k, v in ap.items())
        if all("points" in p for p in landmark_preds):
            nme, count = landmark_nme(landmark_preds, landmark_gts)
            res["NME"] = nme
            res["NME_faces"] = count
        logger.info(f"WIDER FACE evaluation of {self._dataset_name}: {dict(res)}")
        return {"widerface": res}


@register_evaluator("widerface")
def _widerface(cfg, dataset_name, output_folder):
    return WiderFaceEvaluator(dataset_name)
