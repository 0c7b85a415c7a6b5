"""VPQ: video panoptic quality (Kim et al., "Video Panoptic Segmentation", CVPR 2020), the metric
of VPSNet on Cityscapes-VPS, as a streaming detectron2 evaluator (``evaluator_type:
video_panoptic``).

Definition. The annotated frames of a video (Cityscapes-VPS: every 5th raw frame) are taken in
order. For a temporal window of ``k`` raw frames (a multiple of the annotation stride ``s``),
every run of ``n = k / s + 1`` consecutive annotated frames (stride 1: ``A - n + 1`` runs in a
video of ``A`` annotated frames, none when ``A < n``) is one "tube" image: its ``n`` ground-truth
and its ``n`` predicted segment-id maps side by side. Segment ids are track ids (an id names the
same object in every frame of a video), so a segment of the tube is the union of its pixels over
the ``n`` frames. The tube is scored as panopticapi's ``pq_compute_single_core`` scores an image:

- void = ground-truth id 0; a ground-truth id without a segment is neither a segment nor void;
- a predicted and a non-crowd ground-truth segment of the same category match (TP, their IoU is
  added to the class's IoU sum) when IoU > 0.5, union = ``|pred| + |gt| - |pred ∩ gt| -
  |pred ∩ void|``;
- an unmatched non-crowd ground-truth segment is a FN; an unmatched prediction is a FP unless
  more than half of it lies on void or on the crowd region of its category (the last crowd
  segment of that category in the tube, as panopticapi's ``crowd_labels_dict``).

TP, FP, FN and IoU sums are accumulated per class over all tubes of all videos, separately for
each ``k``. ``VPQ^k`` is the mean of ``IoU / (TP + FP/2 + FN/2)`` over the classes with
``TP + FP + FN > 0`` (Things / Stuff: over those of the thing / stuff classes; NaN when there is
none), and VPQ the mean of ``VPQ^k`` over ``k``. With ``k = 0`` a tube is one frame: ``VPQ^0``
is image PQ on the annotated frames.
"""

import copy
import itertools
import json
import logging
import os
from collections import Counter, OrderedDict, defaultdict, deque
from typing import Dict, Hashable, Iterable, NamedTuple, Tuple

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager
from tabulate import tabulate

from ..data.panoptic import read_panoptic_ids

__all__ = ["AnnotatedFramesOnly", "VPQAccumulator", "VPQEvaluator"]

logger = logging.getLogger(__name__)

OFFSET = 256 * 256 * 256  # ids < 256³ (COCO-panoptic PNGs); (gt, pred) pair = gt * OFFSET + pred
VOID = 0
_TP, _FP, _FN, _IOU = range(4)
_GROUPS = (("All", None), ("Things", True), ("Stuff", False))


class _Frame(NamedTuple):
    intersections: Dict[Tuple[int, int], int]  # (gt id, pred id) -> pixels, void pairs included
    gt_segments: Dict[int, Tuple[Hashable, int]]  # id -> (category, iscrowd)
    pred_segments: Dict[int, Hashable]  # id -> category


def _merge_segments(merged: dict, segments: dict, kind: str, video_id) -> None:
    for seg_id, info in segments.items():
        if merged.setdefault(seg_id, info) != info:
            raise ValueError(
                f"video {video_id!r}: {kind} segment {seg_id} is {merged[seg_id]} in one frame "
                f"and {info} in another; a segment id must name the same object in every frame"
            )


def _tube_counts(intersections: Counter, gt_segments: dict, pred_segments: dict) -> dict:
    """``{category: [tp, fp, fn, iou sum]}`` of one tube (panopticapi's single-image PQ)."""
    gt_area, pred_area = Counter(), Counter()
    for (gt, pred), pixels in intersections.items():
        gt_area[gt] += pixels
        pred_area[pred] += pixels
    counts = defaultdict(lambda: np.zeros(4))
    gt_matched, pred_matched = set(), set()
    for (gt, pred), pixels in intersections.items():
        if gt not in gt_segments or pred not in pred_segments:
            continue
        category, iscrowd = gt_segments[gt]
        if iscrowd or pred_segments[pred] != category:
            continue
        union = pred_area[pred] + gt_area[gt] - pixels - intersections.get((VOID, pred), 0)
        iou = pixels / union
        if iou > 0.5:
            counts[category][_TP] += 1
            counts[category][_IOU] += iou
            gt_matched.add(gt)
            pred_matched.add(pred)
    crowd = {}
    for gt, (category, iscrowd) in gt_segments.items():
        if gt in gt_matched:
            continue
        if iscrowd:
            crowd[category] = gt
        else:
            counts[category][_FN] += 1
    for pred, category in pred_segments.items():
        if pred in pred_matched:
            continue
        ignored = intersections.get((VOID, pred), 0)
        if category in crowd:
            ignored += intersections.get((crowd[category], pred), 0)
        if ignored / pred_area[pred] <= 0.5:
            counts[category][_FP] += 1
    return counts


def _class_quality(tp, fp, fn, iou) -> dict:
    denominator = tp + 0.5 * fp + 0.5 * fn
    return {"pq": iou / denominator, "sq": iou / tp if tp else 0.0, "rq": tp / denominator}


class VPQAccumulator:
    """Per-class TP / FP / FN / IoU sums of the VPQ tubes, fed one annotated frame at a time.

    ``categories`` maps a category key (any hashable: ``VPQEvaluator`` uses the stuff-first
    semantic label, stuff ``s`` -> ``s``, thing ``t`` -> ``num_stuff + t``) to its ``isthing``.
    ``ks``: temporal windows in raw frames, multiples of ``annotation_stride`` (the raw-frame
    distance of consecutive annotated frames).

    Frames must arrive video by video, each video whole and in order. Only the last
    ``max(k) / annotation_stride + 1`` frames of the current video are kept, as their (gt, pred)
    intersection counts, so memory does not grow with the video length. ``merge`` adds the sums
    of an accumulator that saw other videos (another process's).
    """

    def __init__(
        self,
        categories: Dict[Hashable, bool],
        ks: Iterable[int] = (0, 5, 10, 15),
        annotation_stride: int = 5,
    ):
        if not categories:
            raise ValueError("VPQAccumulator needs at least one category")
        if not isinstance(annotation_stride, (int, np.integer)) or annotation_stride <= 0:
            raise ValueError(f"annotation_stride must be a positive int, got {annotation_stride!r}")
        ks = tuple(ks)
        if not ks or len(set(ks)) != len(ks):
            raise ValueError(f"ks must be distinct temporal windows, at least one; got {ks}")
        for k in ks:
            if not isinstance(k, (int, np.integer)) or k < 0 or k % annotation_stride:
                raise ValueError(
                    f"temporal window k={k!r} of ks={ks} is not a multiple >= 0 of "
                    f"annotation_stride={annotation_stride}"
                )
        self.categories = {key: bool(isthing) for key, isthing in categories.items()}
        self.ks = tuple(int(k) for k in ks)
        self.annotation_stride = int(annotation_stride)
        self._frames_per_tube = {k: k // self.annotation_stride + 1 for k in self.ks}
        self._buffer = deque(maxlen=max(self._frames_per_tube.values()))
        self._video = None
        self._frame_index = 0  # annotated frames of the current video so far
        self.videos = set()  # every video seen, the current one included
        self.windows = {k: 0 for k in self.ks}  # tubes scored per k
        self.counts = {k: {} for k in self.ks}  # k -> {category: array [tp, fp, fn, iou sum]}

    @property
    def num_buffered(self) -> int:
        """Frames of the current video held for the tubes still open."""
        return len(self._buffer)

    def add_frame(
        self,
        video_id: Hashable,
        gt_ids: np.ndarray,
        gt_segments: Dict[int, Tuple[Hashable, int]],
        pred_ids: np.ndarray,
        pred_segments: Dict[int, Hashable],
    ) -> None:
        """Add the next annotated frame of ``video_id`` and score the tubes ending at it.

        Args:
            gt_ids, pred_ids: H×W integer segment-id maps, ids in ``[0, 256³)``; 0 = void.
            gt_segments: ``{id: (category, iscrowd)}``; ``pred_segments``: ``{id: category}``,
                exactly the non-zero ids of ``pred_ids``.
        """
        new_video = video_id != self._video
        if new_video and video_id in self.videos:
            raise ValueError(
                f"a frame of video {video_id!r} arrived after video {self._video!r}, but "
                f"{video_id!r} was already evaluated: videos must arrive whole and in order"
            )
        index = 0 if new_video else self._frame_index
        frame = self._frame(
            f"video {video_id!r} annotated frame {index}",
            gt_ids,
            gt_segments,
            pred_ids,
            pred_segments,
        )
        if new_video:
            self._video = video_id
            self.videos.add(video_id)
            self._buffer.clear()
        self._frame_index = index + 1
        self._buffer.append(frame)
        for k, n in self._frames_per_tube.items():
            if len(self._buffer) >= n:
                self._add_tube(k, list(self._buffer)[-n:])

    def _frame(self, where, gt_ids, gt_segments, pred_ids, pred_segments) -> _Frame:
        gt_ids, pred_ids = np.asarray(gt_ids), np.asarray(pred_ids)
        if gt_ids.ndim != 2 or gt_ids.shape != pred_ids.shape:
            raise ValueError(
                f"{where}: ground truth is {gt_ids.shape} and prediction {pred_ids.shape}; "
                "both must be the same H×W"
            )
        for name, ids in (("ground-truth", gt_ids), ("predicted", pred_ids)):
            if not np.issubdtype(ids.dtype, np.integer):
                raise ValueError(f"{where}: {name} id map has dtype {ids.dtype}, not integer")
            if ids.size and (ids.min() < 0 or ids.max() >= OFFSET):
                raise ValueError(
                    f"{where}: {name} ids span [{ids.min()}, {ids.max()}], outside [0, {OFFSET})"
                )
        gt = {}
        for seg_id, (category, iscrowd) in gt_segments.items():
            if seg_id == VOID or category not in self.categories or iscrowd not in (0, 1):
                raise ValueError(
                    f"{where}: ground-truth segment {seg_id} has category {category!r} and "
                    f"iscrowd {iscrowd!r}; ids must be non-zero (0 = void), categories among "
                    f"{list(self.categories)}, iscrowd 0 or 1"
                )
            gt[int(seg_id)] = (category, int(iscrowd))
        pred = {}
        for seg_id, category in pred_segments.items():
            if seg_id == VOID or category not in self.categories:
                raise ValueError(
                    f"{where}: predicted segment {seg_id} has category {category!r}; ids must "
                    f"be non-zero (0 = void), categories among {list(self.categories)}"
                )
            pred[int(seg_id)] = category
        pairs, pixels = np.unique(
            gt_ids.astype(np.int64) * OFFSET + pred_ids.astype(np.int64), return_counts=True
        )
        intersections = {(int(p // OFFSET), int(p % OFFSET)): int(n) for p, n in zip(pairs, pixels)}
        present = {p for _, p in intersections} - {VOID}
        if present != set(pred):
            raise ValueError(
                f"{where}: predicted ids {sorted(present - set(pred))} are in the map but not "
                f"in pred_segments, ids {sorted(set(pred) - present)} in pred_segments but not "
                "in the map"
            )
        return _Frame(intersections, gt, pred)

    def _add_tube(self, k: int, frames) -> None:
        intersections, gt_segments, pred_segments = Counter(), {}, {}
        for frame in frames:
            intersections.update(frame.intersections)
            _merge_segments(gt_segments, frame.gt_segments, "ground-truth", self._video)
            _merge_segments(pred_segments, frame.pred_segments, "predicted", self._video)
        self.windows[k] += 1
        counts = self.counts[k]
        for category, delta in _tube_counts(intersections, gt_segments, pred_segments).items():
            counts[category] = counts.get(category, 0) + delta

    def merge(self, other: "VPQAccumulator") -> None:
        """Add the sums of ``other``, which must have seen other videos than this one."""
        setup = (self.categories, self.ks, self.annotation_stride)
        if (other.categories, other.ks, other.annotation_stride) != setup:
            raise ValueError(
                "cannot merge VPQ accumulators of different categories, ks or annotation_stride"
            )
        shared = self.videos & other.videos
        if shared:
            raise ValueError(
                f"videos {sorted(shared, key=str)} were evaluated in parts by different "
                "accumulators (processes); each video must be evaluated whole by one process"
            )
        self.videos |= other.videos
        for k in self.ks:
            self.windows[k] += other.windows[k]
            for category, delta in other.counts[k].items():
                self.counts[k][category] = self.counts[k].get(category, 0) + delta

    def summary(self) -> dict:
        """Fractions (not percent)::

            {"per_k": {k: {"All" | "Things" | "Stuff": {"pq", "sq", "rq", "n"},
                           "per_class": {category: {"tp", "fp", "fn", "iou", "pq", "sq", "rq"}},
                           "windows": tubes scored}},
             "mean": {"All" | "Things" | "Stuff": {"pq", "sq", "rq"}}}

        ``per_class`` holds the classes with TP + FP + FN > 0; ``n`` of them are in a group's
        mean (panopticapi's ``pq_average``); a mean over no class is NaN (e.g. every ``k`` whose
        tubes are longer than all videos), and so is the mean over ``k`` that includes it.
        """
        per_k = {}
        for k in self.ks:
            per_class = {}
            for category, (tp, fp, fn, iou) in self.counts[k].items():
                if tp + fp + fn > 0:
                    per_class[category] = {
                        "tp": int(tp),
                        "fp": int(fp),
                        "fn": int(fn),
                        "iou": float(iou),
                        **_class_quality(tp, fp, fn, iou),
                    }
            result = {"per_class": per_class, "windows": self.windows[k]}
            for group, isthing in _GROUPS:
                members = [
                    q
                    for c, q in per_class.items()
                    if isthing is None or self.categories[c] == isthing
                ]
                result[group] = {
                    m: sum(q[m] for q in members) / len(members) if members else float("nan")
                    for m in ("pq", "sq", "rq")
                }
                result[group]["n"] = len(members)
            per_k[k] = result
        mean = {
            group: {
                m: sum(per_k[k][group][m] for k in self.ks) / len(self.ks)
                for m in ("pq", "sq", "rq")
            }
            for group, _ in _GROUPS
        }
        return {"per_k": per_k, "mean": mean}


class VPQEvaluator(DatasetEvaluator):
    """VPQ^k of ``panoptic_seg`` outputs on a video panoptic dataset, and their mean over ``ks``.

    Inputs: ``video_id``, ``frame_id``, ``is_annotated``. Unannotated frames are skipped; the
    annotated frames of a video must arrive in increasing ``frame_id``, video after video. Their
    ground truth is the registered dataset's dict of the same (``video_id``, ``frame_id``):
    ``pan_seg_file_name`` (COCO-panoptic PNG, track-consistent ids) and ``segments_info`` (``id``,
    contiguous ``category_id``, ``isthing``, ``iscrowd``); test-time mappers drop
    ``segments_info`` from the inputs. Metadata: ``thing_classes``, ``stuff_classes`` (stuff
    names, then thing names), ``num_stuff``, ``annotation_stride`` (raw frames between annotated
    frames, default 5).

    Outputs: ``panoptic_seg = (seg, segments_info)`` (PanopticFPN format); every pixel whose id
    has no segment (0, -1, ...) is void, and a segment without pixels is no prediction. Tube
    identity of a predicted segment within a video: a thing with ``track_id`` -> (category,
    track_id); a thing without one -> its own, for this frame only (an untracked detection
    cannot match across frames); stuff -> its category (one tube per stuff class). Segments of
    one frame with the same identity are one segment.

    Several processes: each accumulates its videos and ``evaluate`` sums the per-class counts on
    the main process, so each video must be evaluated whole by one process (a video split across
    processes raises ``ValueError``).
    """

    def __init__(self, dataset_name: str, ks: Iterable[int] = (0, 5, 10, 15), output_dir=None):
        dicts = DatasetCatalog.get(dataset_name)  # loaders may set the categories' metadata
        meta = MetadataCatalog.get(dataset_name)
        for key in ("thing_classes", "stuff_classes", "num_stuff"):
            if key not in meta.as_dict():
                raise KeyError(f"dataset {dataset_name!r} has no metadata {key!r}")
        num_stuff, num_things = meta.num_stuff, len(meta.thing_classes)
        if len(meta.stuff_classes) != num_stuff + num_things:
            raise ValueError(
                f"dataset {dataset_name!r}: stuff_classes has {len(meta.stuff_classes)} names, "
                f"expected num_stuff + len(thing_classes) = {num_stuff} + {num_things} (stuff "
                "names, then thing names)"
            )
        self._dataset_name = dataset_name
        self._output_dir = output_dir
        self._ground_truth = {
            (d["video_id"], d["frame_id"]): (d["pan_seg_file_name"], d["segments_info"])
            for d in dicts
            if d["is_annotated"]
        }
        self._num_stuff, self._num_things = num_stuff, num_things
        self._class_names = list(meta.stuff_classes)
        self._setup = (
            {c: c >= num_stuff for c in range(num_stuff + num_things)},  # stuff-first labels
            tuple(ks),
            meta.get("annotation_stride", 5),
        )
        self.reset()

    def reset(self):
        self._accumulator = VPQAccumulator(*self._setup)
        self._video = None
        self._last_frame = None
        self._tube_ids = {}  # (category, track_id) or category -> tube id in the current video
        self._next_tube_id = itertools.count(1)

    def _category(self, isthing: bool, category_id: int, where: str) -> int:
        count = self._num_things if isthing else self._num_stuff
        if not 0 <= category_id < count:
            raise ValueError(
                f"{where}: {'thing' if isthing else 'stuff'} category_id {category_id!r} is not "
                f"a contiguous id of dataset {self._dataset_name!r} (0..{count - 1})"
            )
        return self._num_stuff + category_id if isthing else category_id

    def _prediction(self, panoptic_seg, where: str):
        seg, segments_info = panoptic_seg
        if segments_info is None:
            raise ValueError(
                f"{where}: panoptic_seg has segments_info None; VPQEvaluator needs the "
                "(seg, segments_info) of PanopticFPN-style outputs"
            )
        seg = seg.cpu().numpy()
        by_id = {int(s["id"]): s for s in segments_info}
        values, inverse = np.unique(seg.ravel(), return_inverse=True)
        lut = np.zeros(len(values), np.int64)
        pred_segments = {}
        for i, value in enumerate(values.tolist()):
            s = by_id.get(value)
            if s is None:
                continue  # void
            category = self._category(bool(s["isthing"]), s["category_id"], where)
            if s["isthing"] and s.get("track_id") is None:
                tube = next(self._next_tube_id)
            else:
                identity = (category, s["track_id"]) if s["isthing"] else category
                if identity not in self._tube_ids:
                    self._tube_ids[identity] = next(self._next_tube_id)
                tube = self._tube_ids[identity]
            lut[i] = tube
            pred_segments[tube] = category
        return lut[inverse].reshape(seg.shape), pred_segments

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            if not inp["is_annotated"]:
                continue
            video, frame = inp["video_id"], inp["frame_id"]
            where = f"video {video!r} frame {frame!r}"
            if video != self._video:
                self._video, self._tube_ids = video, {}
                self._next_tube_id = itertools.count(1)
            elif frame <= self._last_frame:
                raise ValueError(
                    f"{where} arrived after frame {self._last_frame!r}: the frames of a video "
                    "must be evaluated in increasing frame_id"
                )
            self._last_frame = frame
            if (video, frame) not in self._ground_truth:
                raise KeyError(
                    f"{where} is annotated, but dataset {self._dataset_name!r} has no annotated "
                    "frame with that video_id and frame_id"
                )
            gt_file, segments_info = self._ground_truth[video, frame]
            gt_ids = read_panoptic_ids(gt_file)
            gt_segments = {
                s["id"]: (self._category(s["isthing"], s["category_id"], where), s["iscrowd"])
                for s in segments_info
            }
            pred_ids, pred_segments = self._prediction(out["panoptic_seg"], where)
            if pred_ids.shape != gt_ids.shape:
                raise ValueError(
                    f"{where}: panoptic_seg is {pred_ids.shape}, ground truth {gt_file!r} is "
                    f"{gt_ids.shape}"
                )
            self._accumulator.add_frame(video, gt_ids, gt_segments, pred_ids, pred_segments)

    def evaluate(self):
        accumulators = comm.gather(self._accumulator, dst=0)
        if not comm.is_main_process():
            return {}
        total = VPQAccumulator(*self._setup)
        for part in accumulators:
            total.merge(part)
        if not total.videos:
            logger.warning(f"VPQ of {self._dataset_name!r}: no annotated frame was evaluated")
            return {}
        summary = total.summary()
        results = OrderedDict()
        rows = [("VPQ", summary["mean"])] + [(f"VPQ@{k}", summary["per_k"][k]) for k in total.ks]
        for name, result in rows:
            results[name] = 100 * result["All"]["pq"]
            results[f"{name}_th"] = 100 * result["Things"]["pq"]
            results[f"{name}_st"] = 100 * result["Stuff"]["pq"]
        self._log(summary, total.ks)
        if self._output_dir:
            self._save(summary, results)
        return {"video_panoptic_seg": copy.deepcopy(results)}

    def _log(self, summary, ks):
        rows = []
        for k in ks:
            r = summary["per_k"][k]
            rows.append(
                [k, r["windows"]]
                + [100 * r[g]["pq"] for g, _ in _GROUPS]
                + [100 * r["All"]["sq"], 100 * r["All"]["rq"]]
            )
        m = summary["mean"]
        rows.append(
            ["mean", ""]
            + [100 * m[g]["pq"] for g, _ in _GROUPS]
            + [100 * m["All"]["sq"], 100 * m["All"]["rq"]]
        )
        headers = ["k", "#windows", "VPQ", "VPQ_th", "VPQ_st", "VSQ", "VRQ"]
        table = tabulate(
            rows,
            headers=headers,
            tablefmt="pipe",
            floatfmt=".3f",
            stralign="center",
            numalign="center",
        )
        logger.info(f"Video panoptic quality of {self._dataset_name!r}:\n" + table)

    def _save(self, summary, results):
        per_class = {
            f"VPQ@{k}": {
                self._class_names[c]: stats for c, stats in summary["per_k"][k]["per_class"].items()
            }
            for k in summary["per_k"]
        }
        windows = {f"VPQ@{k}": r["windows"] for k, r in summary["per_k"].items()}
        PathManager.mkdirs(self._output_dir)
        path = os.path.join(self._output_dir, "vpq_results.json")
        with PathManager.open(path, "w") as f:
            json.dump({"results": results, "windows": windows, "per_class": per_class}, f, indent=1)


class AnnotatedFramesOnly(DatasetEvaluator):
    """``evaluator`` on the annotated frames (input ``is_annotated``) of a video dataset only,
    e.g. ``COCOPanopticEvaluator`` for image PQ when the dataset's panoptic json holds exactly
    the annotated frames."""

    def __init__(self, evaluator: DatasetEvaluator):
        self._evaluator = evaluator

    def reset(self):
        self._evaluator.reset()

    def process(self, inputs, outputs):
        pairs = [(i, o) for i, o in zip(inputs, outputs) if i["is_annotated"]]
        if pairs:
            self._evaluator.process([i for i, _ in pairs], [o for _, o in pairs])

    def evaluate(self):
        return self._evaluator.evaluate()
