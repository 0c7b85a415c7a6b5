"""Synthetic-dataset framework: specs, the on-disk cache, and COCO annotation / drawing helpers.

A split ``<prefix>_<split>`` lives in ``<root>/<prefix>_v<version>/<split>/`` (``images/`` +
``annotations.json``), is generated deterministically on first use and moved into place
atomically, so concurrent processes can call :func:`ensure_generated` safely.
"""

import colorsys
import functools
import json
import logging
import os
import shutil
import tempfile
import time
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_coco_json
from pycocotools import mask as mask_util

__all__ = [
    "SYNTHETIC_DATASETS",
    "SyntheticSpec",
    "dataset_root",
    "split_paths",
    "ensure_generated",
    "registered_synthetic_names",
]

logger = logging.getLogger(__name__)

DEFAULT_ROOT = "~/.cache/vision_plugins/datasets"
MIN_AREA = 20  # instances with a smaller visible area are never annotated
MIN_VISIBLE_FRACTION = 0.25  # ... nor those showing less than this fraction of themselves
_MARKER = ".complete"


@dataclass(frozen=True)
class SyntheticSpec:
    """A synthetic dataset family, written in the official on-disk format of its task.

    ``generate(out_dir, num_images, seed)`` writes one split into the existing empty ``out_dir``;
    ``splits`` maps split name to image count; ``metadata`` is set on the ``MetadataCatalog``;
    ``load(json_file, image_root, dataset_name)`` is the task's real loader (COCO by default) of
    the split's ``annotation_file`` and ``evaluator_type`` selects the evaluator.
    """

    prefix: str
    version: int
    splits: Dict[str, int]
    generate: Callable[[str, int, int], None]
    metadata: Dict[str, Any]
    load: Callable[[str, str, str], List[dict]] = load_coco_json
    evaluator_type: str = "coco"
    annotation_file: str = "annotations.json"
    split_metadata: Optional[Callable[[str], Dict[str, Any]]] = None  # split dir -> extra metadata

    def names(self) -> List[str]:
        """Dataset names, ``<prefix>_<split>``."""
        return [f"{self.prefix}_{split}" for split in self.splits]


# registered dataset name (e.g. "vp_shapes_train") -> its spec; filled by register_all_synthetic
SYNTHETIC_DATASETS: Dict[str, SyntheticSpec] = {}


# families registered by the task modules that hold their generators (add_synthetic_family);
# register_all_synthetic re-registers them with its own
ADDED_FAMILIES: List[SyntheticSpec] = []


def _load(name: str, root: Optional[str]):
    json_file, image_root = ensure_generated(name, root=root)
    return SYNTHETIC_DATASETS[name].load(json_file, image_root, name)


def register_synthetic_specs(specs: Sequence[SyntheticSpec], root: Optional[str] = None) -> None:
    """Register every split of ``specs`` under ``root`` (default :func:`dataset_root`) in
    detectron2's catalogs: loading a split generates it if needed. Re-registers names already
    registered (a changed ``$VP_DATASETS``)."""
    root = root or dataset_root()
    for spec in specs:
        for name in spec.names():
            SYNTHETIC_DATASETS[name] = spec
            json_file, image_root = split_paths(name, root=root)
            if name in DatasetCatalog:
                DatasetCatalog.remove(name)
                MetadataCatalog.remove(name)
            DatasetCatalog.register(name, functools.partial(_load, name, root))
            extra = spec.split_metadata(os.path.dirname(json_file)) if spec.split_metadata else {}
            MetadataCatalog.get(name).set(
                json_file=json_file,
                image_root=image_root,
                evaluator_type=spec.evaluator_type,
                **spec.metadata,
                **extra,
            )


def add_synthetic_family(*specs: SyntheticSpec) -> None:
    """Register ``specs`` now and in every later ``register_all_synthetic`` (for a family whose
    generator lives beside its task's loaders, outside this package)."""
    ADDED_FAMILIES.extend(s for s in specs if s not in ADDED_FAMILIES)
    register_synthetic_specs(specs)


def registered_synthetic_names() -> List[str]:
    """Sorted names of all registered synthetic datasets."""
    return sorted(SYNTHETIC_DATASETS)


def dataset_root() -> str:
    """``$VP_DATASETS``, default ``~/.cache/vision_plugins/datasets``."""
    return os.path.expanduser(os.environ.get("VP_DATASETS") or DEFAULT_ROOT)


def _lookup(name: str) -> Tuple[SyntheticSpec, str]:
    if name not in SYNTHETIC_DATASETS:
        raise KeyError(
            f"{name!r} is not a synthetic dataset; known: {registered_synthetic_names()}"
        )
    spec = SYNTHETIC_DATASETS[name]
    return spec, name[len(spec.prefix) + 1 :]


def _split_dir(name: str, num_images: Optional[int], root: Optional[str]) -> str:
    spec, split = _lookup(name)
    if num_images is not None and num_images != spec.splits[split]:
        split = f"{split}_n{num_images}"  # test-sized variants never shadow the real split
    return os.path.join(root or dataset_root(), f"{spec.prefix}_v{spec.version}", split)


def split_paths(
    name: str, num_images: Optional[int] = None, root: Optional[str] = None
) -> Tuple[str, str]:
    """``(json_file, image_root)`` of a split; deterministic, whether generated yet or not."""
    out = _split_dir(name, num_images, root)
    spec, _ = _lookup(name)
    return os.path.join(out, spec.annotation_file), os.path.join(out, "images")


def ensure_generated(
    name: str, num_images: Optional[int] = None, root: Optional[str] = None
) -> Tuple[str, str]:
    """Generate split ``name`` unless already complete; returns ``(json_file, image_root)``.

    ``num_images`` overrides the split size (for tests; stored in a separate directory), ``root``
    overrides :func:`dataset_root`. Generation goes to a temporary sibling directory that is
    renamed into place; if another process got there first, our copy is discarded.
    """
    spec, split = _lookup(name)
    out = _split_dir(name, num_images, root)
    paths = split_paths(name, num_images, root)
    if os.path.isfile(os.path.join(out, _MARKER)):
        return paths
    n = spec.splits[split] if num_images is None else num_images
    seed = zlib.crc32(f"{spec.prefix}_v{spec.version}_{split}".encode())
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.tmp-", dir=os.path.dirname(out))
    try:
        os.chmod(tmp, 0o755)
        start = time.perf_counter()
        logger.info(f"Generating synthetic dataset {name} ({n} images) in {out} ...")
        spec.generate(tmp, n, seed)
        with open(os.path.join(tmp, _MARKER), "w") as f:
            f.write(f"{name} v{spec.version} {n} images\n")
        if os.path.isdir(out) and not os.path.isfile(os.path.join(out, _MARKER)):
            # an incomplete directory not made by us (we only ever rename complete ones)
            shutil.rmtree(out, ignore_errors=True)
        try:
            os.replace(tmp, out)
            logger.info(f"Generated {name} in {time.perf_counter() - start:.1f}s.")
        except OSError:
            if not os.path.isfile(os.path.join(out, _MARKER)):
                raise  # not a lost race
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return paths


# ---------------------------------------------------------------------------------------------
# Writing a split


def image_rng(seed: int, index: int) -> np.random.Generator:
    """Independent generator for image ``index`` of the split with ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, index])))


def write_coco_split(
    out_dir: str,
    num_images: int,
    seed: int,
    render: Callable[[np.random.Generator, int], Tuple[np.ndarray, List[dict]]],
    categories: List[dict],
) -> None:
    """Write ``images/*.png`` + ``annotations.json`` from ``render(rng, index) -> (bgr, anns)``."""
    os.makedirs(os.path.join(out_dir, "images"))
    images, annotations = [], []
    for index in range(num_images):
        image, anns = render(image_rng(seed, index), index)
        file_name = f"{index:06d}.png"
        if not cv2.imwrite(os.path.join(out_dir, "images", file_name), image):
            raise OSError(f"Could not write {file_name} to {out_dir}")
        height, width = image.shape[:2]
        images.append({"id": index + 1, "file_name": file_name, "height": height, "width": width})
        for ann in anns:
            annotations.append({**ann, "id": len(annotations) + 1, "image_id": index + 1})
    coco = {
        "info": {"description": "vision_plugins synthetic dataset"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    with open(os.path.join(out_dir, "annotations.json"), "w") as f:
        json.dump(coco, f, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# Masks -> COCO annotations


def mask_to_polygons(mask: np.ndarray) -> Optional[List[List[float]]]:
    """COCO polygons that pycocotools rasterizes back to exactly ``mask``, else None.

    Contours are traced on the 2x-upsampled mask and mapped to quarter-pixel coordinates, so
    every pixel centre is strictly inside or outside. Masks with holes are not representable.
    """
    up = np.kron(mask.astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(up, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons = [((c.reshape(-1, 2) + 0.5) / 2).ravel().tolist() for c in contours if len(c) >= 3]
    if not polygons:
        return None
    h, w = mask.shape
    decoded = mask_util.decode(mask_util.merge(mask_util.frPyObjects(polygons, h, w)))
    return polygons if np.array_equal(decoded.astype(bool), mask.astype(bool)) else None


def mask_to_rle(mask: np.ndarray) -> dict:
    """Compressed COCO RLE with ``counts`` as str (JSON-serializable)."""
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def coco_annotation(mask: np.ndarray, category_id: int, iscrowd: bool = False) -> dict:
    """Annotation (without ids) of a visible mask: tight bbox, pixel area, polygons or RLE."""
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    bbox = [float(x0), float(y0), float(xs.max() - x0 + 1), float(ys.max() - y0 + 1)]
    segmentation = mask_to_rle(mask) if iscrowd else mask_to_polygons(mask)
    if segmentation is None:
        raise ValueError("mask is not representable as COCO polygons (holes?)")
    return {
        "category_id": category_id,
        "bbox": bbox,
        "area": float(len(xs)),
        "iscrowd": int(iscrowd),
        "segmentation": segmentation,
    }


class Layers:
    """Masks in drawing order (later layers occlude earlier ones) with bounded occlusion.

    :meth:`try_add` refuses a layer that would leave any annotated layer with a visible area
    below ``max(MIN_AREA, min_fraction * full_area)`` or not representable as polygons, so every
    drawn object is annotated and the dropping rule never hides a drawn object.
    """

    def __init__(self, min_fraction: float = MIN_VISIBLE_FRACTION):
        self.min_fraction = max(min_fraction, MIN_VISIBLE_FRACTION)
        self.masks: List[np.ndarray] = []
        self._info: List[Tuple[Optional[int], bool, float]] = []  # category_id, iscrowd, area

    @staticmethod
    def _visible(masks: Sequence[np.ndarray]) -> List[np.ndarray]:
        covered = np.zeros_like(masks[0])
        visible = []
        for m in reversed(masks):
            visible.append(m & ~covered)
            covered |= m
        return visible[::-1]

    def visible(self) -> List[np.ndarray]:
        return self._visible(self.masks) if self.masks else []

    def covered_after(self, k: int) -> np.ndarray:
        """Union of the layers drawn after layer ``k``."""
        return np.logical_or.reduce(self.masks[k + 1 :] + [np.zeros_like(self.masks[k])])

    def try_add(
        self,
        mask: np.ndarray,
        category_id: Optional[int] = None,
        iscrowd: bool = False,
        full_area: Optional[float] = None,
    ) -> bool:
        """Add ``mask`` (bool; ``category_id=None``: unannotated occluder) if occlusion allows.

        ``full_area`` is the unoccluded area including any part outside the image.
        """
        info = self._info + [(category_id, iscrowd, mask.sum() if full_area is None else full_area)]
        for vis, (cat, crowd, area) in zip(self._visible(self.masks + [mask]), info):
            if cat is None:
                continue
            if vis.sum() < max(MIN_AREA, self.min_fraction * area):
                return False
            if not crowd and mask_to_polygons(vis) is None:
                return False
        self.masks.append(mask)
        self._info.append(info[-1])
        return True

    def segments(self) -> List[Tuple[np.ndarray, int, bool]]:
        """``(visible mask, category_id, iscrowd)`` of every annotated layer."""
        return [
            (vis, cat, crowd)
            for vis, (cat, crowd, _) in zip(self.visible(), self._info)
            if cat is not None
        ]

    def annotations(self) -> List[Tuple[int, dict]]:
        """``(layer index, annotation)`` for every annotated layer."""
        return [
            (k, coco_annotation(vis, cat, crowd))
            for k, (vis, (cat, crowd, _)) in enumerate(zip(self.visible(), self._info))
            if cat is not None
        ]


# ---------------------------------------------------------------------------------------------
# Drawing


def saturated_color(rng: np.random.Generator, avoid_hues: Sequence[float] = ()) -> tuple:
    """``(bgr, hue)`` of a saturated bright colour whose hue differs from ``avoid_hues``."""
    for _ in range(20):
        hue = rng.random()
        if all(min(abs(hue - h), 1 - abs(hue - h)) > 0.12 for h in avoid_hues):
            break
    r, g, b = colorsys.hsv_to_rgb(hue, rng.uniform(0.75, 1.0), rng.uniform(0.75, 1.0))
    return np.array([b, g, r]) * 255, hue


def smooth_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Low-contrast, low-saturation background: tinted grey + linear gradient + soft blobs."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    angle = rng.uniform(0, 2 * np.pi)
    shade = rng.uniform(-30, 30) * (np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5))
    for _ in range(rng.integers(2, 5)):
        cy, cx, sigma = rng.random(), rng.random(), rng.uniform(0.1, 0.3)
        shade += rng.uniform(-20, 20) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / sigma**2)
    base = rng.uniform(80, 180) + rng.uniform(-12, 12, size=3)
    image = base + shade[..., None] + rng.normal(0, 2, size=(h, w, 3))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def paint(
    image: np.ndarray, mask: np.ndarray, bgr, rng: np.random.Generator, noise: float = 6.0
) -> None:
    """Fill ``mask`` of ``image`` in place with colour ``bgr`` plus mild per-pixel noise."""
    values = np.asarray(bgr, dtype=np.float64) + rng.normal(0, noise, size=(int(mask.sum()), 3))
    image[mask] = np.clip(np.rint(values), 0, 255).astype(np.uint8)


def fill_polygon(shape: Tuple[int, int], points: np.ndarray) -> np.ndarray:
    """Bool mask of a filled polygon with sub-pixel vertex precision."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.rint(np.asarray(points) * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    return mask.astype(bool)
