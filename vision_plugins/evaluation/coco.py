"""The project's ``COCOEvaluator``: mask scores, and defined numbers on empty evaluations.

- Models that re-score their masks (YOLACT++'s mask-IoU head) return ``Instances.mask_scores``
  next to ``scores``; as in the official evaluation, box AP then ranks detections by ``scores``
  and mask AP by ``mask_scores``.
- Empty evaluations (detectron2 gives ``nan`` for every metric when the model predicts nothing,
  and keypoint AP on a set without keypoint annotations ends in a bare ``StopIteration``): a task
  whose ground truth has objects but no prediction gets what pycocotools defines for it -- AP 0
  for every metric, area range and category that has ground truth, ``nan`` for those without --
  and a task without ground truth is reported ``nan`` with a warning naming the dataset.
"""

import itertools
import logging

from detectron2.evaluation import COCOEvaluator

__all__ = ["MaskScoreCOCOEvaluator"]

logger = logging.getLogger(__name__)

# pycocotools' summary metrics and the area range (bounds inclusive, as pycocotools) of each
_METRIC_AREAS = {
    "bbox": {"AP": "all", "AP50": "all", "AP75": "all", "APs": "small", "APm": "medium",
             "APl": "large"},
    "keypoints": {"AP": "all", "AP50": "all", "AP75": "all", "APm": "medium", "APl": "large"},
}  # fmt: skip
_METRIC_AREAS["segm"] = _METRIC_AREAS["bbox"]
_AREAS = {"all": (0, float("inf")), "small": (0, 32**2), "medium": (32**2, 96**2),
          "large": (96**2, float("inf"))}  # fmt: skip


class MaskScoreCOCOEvaluator(COCOEvaluator):
    def process(self, inputs, outputs):
        super().process(inputs, outputs)
        # the entries just added, in the order instances_to_coco_json wrote them
        added = self._predictions[len(self._predictions) - len(inputs) :]
        for pred, output in zip(added, outputs):
            inst = output.get("instances")
            if inst is None or not inst.has("mask_scores") or "instances" not in pred:
                continue
            for result, s in zip(pred["instances"], inst.mask_scores.tolist()):
                result["mask_score"] = s

    def _ground_truth(self, task):
        """Annotations that count for ``task``: not crowd, and with keypoints for keypoint AP
        (pycocotools ignores the others)."""
        anns = [a for a in self._coco_api.dataset.get("annotations", []) if not a.get("iscrowd")]
        if task == "keypoints":
            anns = [a for a in anns if a.get("num_keypoints", 0) > 0]
        return anns

    def _eval_predictions(self, predictions, img_ids=None):
        tasks = list(
            self._tasks
            or self._tasks_from_predictions(itertools.chain(*[p["instances"] for p in predictions]))
        )
        if self._do_evaluation:
            name = self._metadata.name
            for task in [t for t in tasks if not self._ground_truth(t)]:
                logger.warning(
                    f"{name}: no {task} ground truth (no non-crowd annotation"
                    f"{' with keypoints' if task == 'keypoints' else ''}): {task} AP is undefined "
                    "and reported as nan"
                )
                self._results[task] = {m: float("nan") for m in _METRIC_AREAS[task]}
                tasks.remove(task)
        if not tasks:
            return
        saved = self._tasks
        try:
            self._eval_tasks(predictions, img_ids, tasks)
        finally:
            self._tasks = saved

    def _eval_tasks(self, predictions, img_ids, tasks):
        if not any("mask_score" in r for p in predictions for r in p.get("instances", [])):
            self._tasks = tasks
            return super()._eval_predictions(predictions, img_ids)
        # copies first: the parent maps category ids in place
        for_masks = [
            dict(p, instances=[dict(r, score=r["mask_score"]) for r in p["instances"]])
            for p in predictions
        ]
        self._tasks = [t for t in tasks if t != "segm"]
        if self._tasks:
            super()._eval_predictions(predictions, img_ids)
        if "segm" in tasks:
            self._tasks = ["segm"]
            super()._eval_predictions(for_masks, img_ids)

    def _derive_coco_results(self, coco_eval, iou_type, class_names=None):
        if coco_eval is not None:
            return super()._derive_coco_results(coco_eval, iou_type, class_names)
        # no prediction at all on a set with ground truth (tasks without any were set aside)
        gt = self._ground_truth(iou_type)
        logger.warning(
            f"{self._metadata.name}: no {iou_type} prediction from the model on "
            f"{len(gt)} ground-truth objects: AP 0 (nan where there is no ground truth)"
        )

        def ap(anns, area):
            lo, hi = _AREAS[area]
            return 0.0 if any(lo <= a.get("area", 0) <= hi for a in anns) else float("nan")

        results = {m: ap(gt, area) for m, area in _METRIC_AREAS[iou_type].items()}
        if class_names is not None and len(class_names) > 1:
            ids = sorted(c["id"] for c in self._coco_api.dataset["categories"])
            for name, cat in zip(class_names, ids):
                results["AP-" + name] = ap([a for a in gt if a["category_id"] == cat], "all")
        return results
