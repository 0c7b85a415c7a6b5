"""``COCOEvaluator`` that scores masks with ``mask_scores`` when the model provides them.

Models that re-score their masks (YOLACT++'s mask-IoU head) return ``Instances.mask_scores``
next to ``scores``; as in the official evaluation, box AP then ranks detections by ``scores``
and mask AP by ``mask_scores``. Without ``mask_scores`` this is detectron2's ``COCOEvaluator``.
"""

from detectron2.evaluation import COCOEvaluator

__all__ = ["MaskScoreCOCOEvaluator"]


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

    def _eval_predictions(self, predictions, img_ids=None):
        if not any("mask_score" in r for p in predictions for r in p.get("instances", [])):
            return super()._eval_predictions(predictions, img_ids)
        # copies first: the parent maps category ids in place
        for_masks = [
            dict(p, instances=[dict(r, score=r["mask_score"]) for r in p["instances"]])
            for p in predictions
        ]
        tasks = self._tasks
        try:
            self._tasks = [t for t in (tasks or ("bbox", "segm")) if t != "segm"]
            super()._eval_predictions(predictions, img_ids)
            if tasks is None or "segm" in tasks:
                self._tasks = ["segm"]
                super()._eval_predictions(for_masks, img_ids)
        finally:
            self._tasks = tasks
