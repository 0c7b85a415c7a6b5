"""Counted, throttled warnings about bad training data, and the shared annotation checks.

Three counters (per process: each DataLoader worker counts its own samples):

- :data:`SKIPPED_IMAGES`: unreadable training images skipped
  (``DATALOADER.SKIP_UNREADABLE_IMAGES``);
- :data:`EMPTY_SEGMENTATIONS`: instances dropped by a mask-using mapper because their
  ``segmentation`` is missing or empty (``[]``, or no polygon of at least 3 points);
- :data:`EMPTY_INSTANCES`: instances dropped after the augmentation because their box (or mask)
  is empty (detectron2's ``filter_empty_instances``: degenerate boxes, or cropped away; the
  panoptic mappers' thing segments emptied by a crop).

Each names its file / annotation in a warning the first time it is seen (for the first
``first`` distinct ones), and logs a summary with the totals every ``every`` occurrences.
"""

import logging
from collections import Counter

__all__ = [
    "IssueCounter",
    "SKIPPED_IMAGES",
    "EMPTY_SEGMENTATIONS",
    "EMPTY_INSTANCES",
    "drop_empty_segmentations",
    "count_dropped_instances",
    "has_segmentation",
]

logger = logging.getLogger("vision_plugins.data")


class IssueCounter:
    """Counts occurrences of one kind of data problem by where they happen (a file name, an
    annotation id) and logs them: a warning naming each of the first ``first`` distinct places
    when first seen, and a summary every ``every`` occurrences (so at most one line per ``every``
    once ``first`` places have been named)."""

    def __init__(self, what, every=100, first=10, level=logging.WARNING):
        self.what, self.every, self.first, self.level = what, every, first, level
        self.per_place = Counter()
        self.total = 0

    def add(self, place, n=1):
        if n <= 0:
            return
        before = self.total
        new = place not in self.per_place
        self.per_place[place] += n
        self.total += n
        if new and len(self.per_place) <= self.first:
            more = (
                f"; further places are only summarised every {self.every}"
                if len(self.per_place) == self.first
                else ""
            )
            logger.log(
                self.level,
                f"{self.what}: {place} ({n}); {self.total} in total in this process{more}",
            )
        elif self.total // self.every > before // self.every:
            logger.log(
                self.level,
                f"{self.what}: {self.total} in total in {len(self.per_place)} place(s) in this "
                f"process (latest: {place}, {self.per_place[place]} time(s))",
            )

    def reset(self):
        self.per_place.clear()
        self.total = 0


SKIPPED_IMAGES = IssueCounter(
    "skipped unreadable training image (DATALOADER.SKIP_UNREADABLE_IMAGES)"
)
EMPTY_SEGMENTATIONS = IssueCounter("dropped instance with an empty or missing segmentation")
EMPTY_INSTANCES = IssueCounter(
    "dropped instance with an empty box or mask after the augmentation (degenerate or cropped)",
    level=logging.INFO,
)


def has_segmentation(segm):
    """Whether an annotation's ``segmentation`` describes a region: an RLE dict, a mask array,
    or a polygon list with at least one polygon of 3 or more points."""
    if segm is None:
        return False
    if isinstance(segm, dict):  # COCO RLE
        return bool(segm.get("counts"))
    if isinstance(segm, list):
        return any(len(poly) >= 6 for poly in segm)
    return True  # a mask array (detectron2 checks its shape)


def drop_empty_segmentations(dataset_dict):
    """Remove from ``dataset_dict["annotations"]`` (in place) the non-crowd instances without a
    usable segmentation (see :func:`has_segmentation`; a missing key counts as empty): a mask
    model cannot learn from them, and detectron2 either drops them silently or loses the
    ``gt_masks`` field of the whole image. Each is counted in :data:`EMPTY_SEGMENTATIONS`, named
    by file and annotation id. Returns the number dropped."""
    annos = dataset_dict.get("annotations")
    if not annos:
        return 0
    kept, dropped = [], []
    for i, a in enumerate(annos):
        if a.get("iscrowd", 0) or has_segmentation(a.get("segmentation")):
            kept.append(a)
        else:
            dropped.append(f"id={a['id']}" if "id" in a else f"#{i}")
    if dropped:
        dataset_dict["annotations"] = kept
        where = dataset_dict.get("file_name", f"image_id={dataset_dict.get('image_id')}")
        for ann_id in dropped:
            EMPTY_SEGMENTATIONS.add(f"'{where}' annotation {ann_id}")
    return len(dropped)


def count_dropped_instances(dataset_dict, before):
    """Count in :data:`EMPTY_INSTANCES` the instances dropped by the mapper: ``before`` minus
    the length of ``dataset_dict["instances"]``."""
    n = before - len(dataset_dict["instances"])
    where = dataset_dict.get("file_name", f"image_id={dataset_dict.get('image_id')}")
    EMPTY_INSTANCES.add(f"'{where}'", n)
    return n
