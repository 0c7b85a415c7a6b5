"""WIDER FACE evaluation (``evaluator_type: widerface``): AP on the easy / medium / hard sets
with the official protocol, and landmark NME.

Protocol of the WIDER FACE toolkit (``eval_tools``; the widely used Python port
``widerface_evaluate/evaluation.py``), re-implemented in NumPy:

- scores are min-max normalised over all predictions of the dataset;
- per image, predictions in descending score order are matched greedily to the ground-truth face
  of highest IoU (areas pixel-inclusive, +1) when IoU >= 0.5; a prediction whose best face is
  not counted at the level (an "ignored" face) is neither a true nor a false positive, and that
  face can never be recalled;
- precision / recall at 1000 score thresholds, AP = VOC all-point interpolation;
- easy ⊂ medium ⊂ hard: a face counts at its level and at every harder one.

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

__all__ = ["WiderFaceEvaluator", "wider_ap", "voc_ap", "box_overlaps_plus_one"]

logger = logging.getLogger(__name__)
THRESH_NUM = 1000


def box_overlaps_plus_one(a, b):
    """IoU of (N, 4) and (K, 4) XYXY boxes with pixel-inclusive (+1) areas."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + 1
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(inter > 0, inter / union, 0.0)


def _image_eval(pred, gt, counted, iou_thresh=0.5):
    """Per prediction (score-descending): the number of counted faces recalled so far, and
    whether it is a proposal that counts (1) or is ignored (-1)."""
    n = len(pred)
    recalled = np.zeros(len(gt))
    proposal = np.ones(n)
    pred_recall = np.zeros(n)
    overlaps = box_overlaps_plus_one(pred[:, :4], gt) if len(gt) else np.zeros((n, 0))
    for h in range(n):
        if overlaps.shape[1]:
            j = int(overlaps[h].argmax())
            if overlaps[h, j] >= iou_thresh:
                if not counted[j]:
                    recalled[j] = -1
                    proposal[h] = -1
                elif recalled[j] == 0:
                    recalled[j] = 1
        pred_recall[h] = (recalled == 1).sum()
    return pred_recall, proposal


def _image_pr(pred, proposal, pred_recall):
    """(THRESH_NUM, 2): proposals kept and faces recalled at each score threshold."""
    pr = np.zeros((THRESH_NUM, 2))
    for t in range(THRESH_NUM):
        thresh = 1 - (t + 1) / THRESH_NUM
        above = np.where(pred[:, 4] >= thresh)[0]
        if len(above):
            last = above[-1]
            pr[t, 0] = (proposal[: last + 1] == 1).sum()
            pr[t, 1] = pred_recall[last]
    return pr


def voc_ap(recall, precision):
    """VOC all-point interpolated AP."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    for i in range(len(mpre) - 1, 0, -1):
        mpre[i - 1] = max(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def wider_ap(predictions, ground_truth, levels=WIDER_LEVELS):
    """``predictions``: per image (N, 5) [x1, y1, x2, y2, score]; ``ground_truth``: per image
    ``(boxes (K, 4) XYXY, level of each face)``. Returns {level: AP in [0, 1]}."""
    scores = np.concatenate([p[:, 4] for p in predictions if len(p)] or [np.zeros(0)])
    lo, hi = (scores.min(), scores.max()) if len(scores) else (0.0, 1.0)
    span = hi - lo if hi > lo else 1.0
    out = {}
    for k, level in enumerate(levels):
        allowed = set(levels[: k + 1])
        curve, faces = np.zeros((THRESH_NUM, 2)), 0
        for pred, (gt, face_levels) in zip(predictions, ground_truth):
            counted = np.array([lv in allowed for lv in face_levels], bool)
            faces += int(counted.sum())
            if len(gt) == 0 or len(pred) == 0:
                continue
            pred = pred[np.argsort(-pred[:, 4], kind="stable")].astype(np.float64)
            pred[:, 4] = (pred[:, 4] - lo) / span
            recall, proposal = _image_eval(pred, np.asarray(gt, np.float64), counted)
            curve += _image_pr(pred, proposal, recall)
        precision = np.divide(curve[:, 1], curve[:, 0], out=np.zeros(THRESH_NUM),
                              where=curve[:, 0] > 0)  # fmt: skip
        recall = curve[:, 1] / max(faces, 1)
        out[level] = voc_ap(recall, precision)
    return out


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


class WiderFaceEvaluator(DatasetEvaluator):
    """WIDER FACE AP (easy / medium / hard, in %) and landmark NME (%) for a dataset in the
    ``vision_plugins.data.widerface`` format. Predictions: ``Instances`` with ``pred_boxes``,
    ``scores`` and (optionally) ``pred_keypoints`` (N, 5, 3)."""

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
            gts.append((boxes, levels))
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
