"""Per-frame COCO AP with clip grouping for video instance segmentation (``evaluator_type:
video_instances``): YolactEdge on YouTube-VIS-format and ``vp_video_instances`` data.

Protocol. The model runs over each video from its first frame to its last, in order (the test
loader uses ``VideoInferenceSampler`` for datasets whose dicts have ``video_id``, see
``vision_plugins.engine.Trainer.build_test_loader``), so a streaming model sees whole clips. The
annotated frames (``is_annotated``) of all videos are then pooled as one COCO image set and box
and mask AP are computed with detectron2's ``COCOEvaluator`` (here ``MaskScoreCOCOEvaluator``:
the COCO definitions, pycocotools' numbers); unannotated frames are run but not scored. The
ground truth is the dataset's annotated frames converted with detectron2's
``convert_to_coco_dict`` (crowd objects are COCO crowd regions).

Keyframes. When the outputs of a streaming model carry ``"is_keyframe"`` (bool: the frame went
through the full backbone rather than a feature-propagation path), the same AP is also computed
on the annotated keyframes alone and on the annotated non-keyframes alone (all predictions are
given to pycocotools; the image set is restricted), so the accuracy cost of the keyframe scheme
is visible. A frame whose output has no ``is_keyframe`` is in neither subset.

Results (``evaluate()``):

- ``bbox`` / ``segm``: detectron2's COCO metrics of the pooled annotated frames (``AP``, ``AP50``,
  ``AP75``, ``APs``, ``APm``, ``APl``, ``AP-<class>``) and, with keyframe flags,
  ``<metric>-keyframes`` / ``<metric>-nonkeyframes`` for the six summary metrics (flattened:
  ``segm/AP-keyframes``, ``segm/AP-nonkeyframes``, ...; a subset without any ground truth gives
  NaN);
- ``video``: ``num_videos`` and ``num_annotated_frames`` evaluated and, with keyframe flags,
  ``num_keyframes`` / ``num_nonkeyframes`` (annotated frames of each kind).

Not computed: YouTube-VIS's official video AP (IoU of spatio-temporal mask tubes), which needs
instances linked over time; the model's output is scored frame by frame.
"""

import copy
import itertools
import json
import os
import shutil
import tempfile
from collections import OrderedDict

import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets.coco import convert_to_coco_dict
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager
from tabulate import tabulate

from .coco import MaskScoreCOCOEvaluator

__all__ = ["VideoInstanceEvaluator", "SUMMARY_METRICS"]

SUMMARY_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
FRAMES_SUFFIX = "__annotated_frames"  # the registered view of a dataset's annotated frames


def _annotated_frames_view(dataset_name: str, dicts: list) -> str:
    """Register ``<dataset_name>__annotated_frames`` (its annotated frames, its thing metadata)
    for ``convert_to_coco_dict`` / ``COCOEvaluator``; returns the name."""
    meta = MetadataCatalog.get(dataset_name)
    if meta.get("thing_classes") is None:
        raise ValueError(
            f"dataset {dataset_name!r} has no thing_classes in its metadata; the video instance "
            "evaluator needs them"
        )
    name = dataset_name + FRAMES_SUFFIX
    if name in DatasetCatalog:
        DatasetCatalog.remove(name)
    if name in MetadataCatalog:
        MetadataCatalog.remove(name)
    annotated = [d for d in dicts if d["is_annotated"]]
    DatasetCatalog.register(name, lambda: copy.deepcopy(annotated))
    MetadataCatalog.get(name).set(
        **{
            k: meta.get(k)
            for k in ("thing_classes", "thing_colors", "thing_dataset_id_to_contiguous_id")
            if meta.get(k) is not None
        }
    )
    return name


class VideoInstanceEvaluator(MaskScoreCOCOEvaluator):
    """Per-frame COCO box / mask AP over the annotated frames of a video dataset, pooled, and
    split by keyframe flag (see the module docstring for the protocol and the result keys).

    ``output_dir`` (optional) receives the annotated frames' COCO json
    (``<dataset>__annotated_frames_coco_format.json``), ``instances_predictions.pth`` and
    ``coco_instances_results.json``. The other arguments are ``COCOEvaluator``'s.
    """

    def __init__(
        self,
        dataset_name: str,
        output_dir=None,
        *,
        tasks=None,
        distributed: bool = True,
        max_dets_per_image=None,
        use_fast_impl: bool = True,
    ):
        dicts = DatasetCatalog.get(dataset_name)
        for i, d in enumerate(dicts):
            if "video_id" not in d or "is_annotated" not in d:
                raise KeyError(
                    f"dataset {dataset_name!r}: dict {i} ({d.get('file_name')}) has no "
                    "video_id / is_annotated; VideoInstanceEvaluator needs a video dataset"
                )
        self._dataset_name = dataset_name
        frames_name = _annotated_frames_view(dataset_name, dicts)
        json_dir = output_dir or tempfile.mkdtemp(prefix="vp_video_instances_")
        try:
            json_file = os.path.join(json_dir, f"{frames_name}_coco_format.json")
            PathManager.mkdirs(json_dir)
            with PathManager.open(json_file, "w") as f:
                json.dump(convert_to_coco_dict(frames_name), f)
            MetadataCatalog.get(frames_name).set(json_file=json_file)
            super().__init__(
                frames_name,
                tasks=tasks,
                distributed=distributed,
                output_dir=output_dir,
                max_dets_per_image=max_dets_per_image,
                use_fast_impl=use_fast_impl,
            )
        finally:
            if output_dir is None:  # the COCO api is in memory now
                shutil.rmtree(json_dir, ignore_errors=True)

    def reset(self):
        super().reset()
        self._frames = []  # (image_id, video_id, is_keyframe or None) of scored frames

    def process(self, inputs, outputs):
        pairs = [(i, o) for i, o in zip(inputs, outputs) if i.get("is_annotated", True)]
        if not pairs:
            return
        super().process([i for i, _ in pairs], [o for _, o in pairs])
        for i, o in pairs:
            key = o.get("is_keyframe")
            if isinstance(key, torch.Tensor):
                key = key.item()
            self._frames.append((i["image_id"], i["video_id"], None if key is None else bool(key)))

    def _eval_predictions(self, predictions, img_ids=None):
        # COCOEvaluator maps the predictions' category ids in place: evaluate a copy, so the
        # same predictions can be evaluated on several image sets
        super()._eval_predictions(copy.deepcopy(predictions), img_ids)

    def evaluate(self, img_ids=None):
        """Pooled AP over the annotated frames (``img_ids``: restrict to these image ids), then
        the keyframe / non-keyframe split when the outputs had ``is_keyframe``."""
        predictions, frames = self._predictions, self._frames
        if self._distributed:
            comm.synchronize()
            predictions = list(itertools.chain(*comm.gather(predictions, dst=0)))
            frames = list(itertools.chain(*comm.gather(frames, dst=0)))
            if not comm.is_main_process():
                return {}
        if not predictions:
            self._logger.warning("[VideoInstanceEvaluator] Did not receive valid predictions.")
            return {}
        if self._output_dir:
            PathManager.mkdirs(self._output_dir)
            with PathManager.open(
                os.path.join(self._output_dir, "instances_predictions.pth"), "wb"
            ) as f:
                torch.save(predictions, f)

        keep = None if img_ids is None else set(img_ids)
        frames = [f for f in frames if keep is None or f[0] in keep]
        self._results = OrderedDict()
        self._eval_predictions(predictions, img_ids=img_ids)
        results = copy.deepcopy(self._results)

        video = {
            "num_videos": len({f[1] for f in frames}),
            "num_annotated_frames": len({f[0] for f in frames}),
        }
        subsets = {
            "keyframes": sorted({f[0] for f in frames if f[2] is True}),
            "nonkeyframes": sorted({f[0] for f in frames if f[2] is False}),
        }
        if any(subsets.values()):
            video.update({f"num_{k}": len(v) for k, v in subsets.items()})
            output_dir, self._output_dir = self._output_dir, None  # results file written once
            try:
                for subset, ids in subsets.items():
                    if not ids:
                        continue
                    self._results = OrderedDict()
                    self._eval_predictions(predictions, img_ids=ids)
                    for task, res in self._results.items():
                        results.setdefault(task, OrderedDict()).update(
                            (f"{m}-{subset}", res[m]) for m in SUMMARY_METRICS if m in res
                        )
            finally:
                self._output_dir = output_dir
            self._log_keyframe_table(results)
        results["video"] = video
        self._results = results
        return copy.deepcopy(results)

    def _log_keyframe_table(self, results):
        rows = [
            [f"{task}/{subset}"] + [res.get(f"{m}-{subset}", float("nan")) for m in SUMMARY_METRICS]
            for task, res in results.items()
            for subset in ("keyframes", "nonkeyframes")
        ]
        self._logger.info(
            f"Per-frame AP of {self._dataset_name} by keyframe flag:\n"
            + tabulate(rows, headers=["", *SUMMARY_METRICS], floatfmt=".3f", tablefmt="pipe")
        )
