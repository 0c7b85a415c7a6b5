"""MPII-style single-person pose annotations: joint names, flip pairs, json loader, registration.

The json file is a list of person entries (the layout of the widely used ``mpii_*.json``
conversions of the MPII ``.mat`` annotations, plus the head box MPII's PCKh needs)::

    {"image": "000001.png",                   # relative to image_root
     "joints": [[x, y], ... 16],              # pixel coordinates, MPII joint order
     "joints_vis": [0 or 1, ... 16],          # 0 = not annotated / not visible
     "is_visible": [0 or 1, ... 16],          # optional: 0 = annotated but occluded
     "center": [x, y], "scale": s,            # person centre; scale = person height / 200 px
     "head_box": [x1, y1, x2, y2],            # head rectangle (PCKh normaliser)
     "height": H, "width": W}                 # optional: read from the image if absent

Each entry becomes one detectron2 dict (top-down, one person per sample) whose single annotation
has ``keypoints`` ([x, y, v] × 16, v = 2 visible / 1 occluded (``is_visible`` 0) / 0 not),
``bbox`` = the 200·scale square around ``center`` (XYXY_ABS), ``center``, ``scale`` and
``head_box``.

The official Stacked Hourglass annotations (princeton-vl/pytorch_stacked_hourglass
``data/MPII/annot/{train,valid}.h5``) load with :func:`load_mpii_h5` / :func:`register_mpii_h5`
into the same dicts; see there for how its crop convention and head sizes are stored.
"""

import json
import os

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from PIL import Image

__all__ = [
    "MPII_KEYPOINT_NAMES",
    "MPII_KEYPOINT_FLIP_MAP",
    "MPII_FLIP_INDICES",
    "MPII_KEYPOINT_CONNECTION_RULES",
    "load_mpii_json",
    "load_mpii_h5",
    "register_mpii_h5",
    "mpii_to_coco_json",
    "register_mpii_json",
    "register_builtin_mpii",
]

MPII_KEYPOINT_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "pelvis", "thorax", "upper_neck", "head_top",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
)  # fmt: skip
MPII_KEYPOINT_FLIP_MAP = (
    ("left_ankle", "right_ankle"),
    ("left_knee", "right_knee"),
    ("left_hip", "right_hip"),
    ("left_wrist", "right_wrist"),
    ("left_elbow", "right_elbow"),
    ("left_shoulder", "right_shoulder"),
)


def _flip_indices():
    index = {n: i for i, n in enumerate(MPII_KEYPOINT_NAMES)}
    out = list(range(len(MPII_KEYPOINT_NAMES)))
    for a, b in MPII_KEYPOINT_FLIP_MAP:
        out[index[a]], out[index[b]] = index[b], index[a]
    return tuple(out)


# joint j of a mirrored image is joint MPII_FLIP_INDICES[j] of the original
MPII_FLIP_INDICES = _flip_indices()
_LIMB = [("ankle", "knee"), ("knee", "hip"), ("shoulder", "elbow"), ("elbow", "wrist")]
MPII_KEYPOINT_CONNECTION_RULES = (
    [(f"left_{a}", f"left_{b}", (0, 200, 255)) for a, b in _LIMB]
    + [(f"right_{a}", f"right_{b}", (255, 120, 0)) for a, b in _LIMB]
    + [
        ("left_hip", "pelvis", (0, 200, 255)),
        ("right_hip", "pelvis", (255, 120, 0)),
        ("pelvis", "thorax", (120, 255, 120)),
        ("thorax", "upper_neck", (120, 255, 120)),
        ("upper_neck", "head_top", (120, 255, 120)),
        ("left_shoulder", "thorax", (0, 200, 255)),
        ("right_shoulder", "thorax", (255, 120, 0)),
    ]
)
_REQUIRED = ("image", "joints", "joints_vis", "center", "scale", "head_box")


def _entry_to_dict(entry, index, json_file, image_root):
    where = f"{json_file}, entry {index}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object, got {type(entry).__name__}")
    missing = [k for k in _REQUIRED if k not in entry]
    if missing:
        raise KeyError(f"{where}: missing key(s) {missing}")
    joints, vis = entry["joints"], entry["joints_vis"]
    k = len(MPII_KEYPOINT_NAMES)
    if len(joints) != k or len(vis) != k or any(len(p) != 2 for p in joints):
        raise ValueError(f"{where}: 'joints' must be {k} [x, y] pairs and 'joints_vis' {k} flags")
    if len(entry["head_box"]) != 4:
        raise ValueError(f"{where}: 'head_box' must be [x1, y1, x2, y2]")
    if float(entry["scale"]) <= 0:
        raise ValueError(f"{where}: 'scale' must be > 0, got {entry['scale']}")
    file_name = os.path.join(image_root, entry["image"])
    if "height" in entry and "width" in entry:
        height, width = int(entry["height"]), int(entry["width"])
    else:
        with Image.open(file_name) as im:
            width, height = im.size
    cx, cy = (float(v) for v in entry["center"])
    half = 100.0 * float(entry["scale"])
    # MPII's per-joint ``is_visible`` (optional): annotated but occluded joints get v = 1
    seen = entry.get("is_visible") or [1] * k
    if len(seen) != k:
        raise ValueError(f"{where}: 'is_visible' must be {k} flags")
    keypoints = []
    for (x, y), v, s in zip(joints, vis, seen):
        keypoints += [float(x), float(y), (2.0 if s else 1.0) if v else 0.0]
    return {
        "file_name": file_name,
        "image_id": index,
        "height": height,
        "width": width,
        "annotations": [
            {
                "bbox": [cx - half, cy - half, cx + half, cy + half],
                "bbox_mode": BoxMode.XYXY_ABS,
                "category_id": 0,
                "keypoints": keypoints,
                "center": [cx, cy],
                "scale": float(entry["scale"]),
                "head_box": [float(v) for v in entry["head_box"]],
            }
        ],
    }


def load_mpii_json(json_file, image_root):
    """detectron2 dicts (one per person entry; ``image_id`` = entry index) from an MPII json."""
    with open(json_file) as f:
        entries = json.load(f)
    if not isinstance(entries, list):
        raise ValueError(f"{json_file}: expected a json list of person entries")
    return [_entry_to_dict(e, i, json_file, image_root) for i, e in enumerate(entries)]


def mpii_to_coco_json(json_file, image_root, out_file):
    """Write an MPII-style json as a COCO keypoint json (one image and one ``person`` per entry,
    16 keypoints in MPII order), for detectron2's ``COCOEvaluator`` (keypoint AP, which then needs
    16 ``TEST.KEYPOINT_OKS_SIGMAS``). ``bbox`` = the 200·scale person square; MPII has no masks,
    so ``area`` (OKS's scale²) = the area of the annotated joints' bounding box."""
    images, annotations = [], []
    for d in load_mpii_json(json_file, image_root):
        ann = d["annotations"][0]
        x1, y1, x2, y2 = ann["bbox"]
        kps = ann["keypoints"]
        xs, ys = kps[0::3], kps[1::3]
        labelled = [i for i, v in enumerate(kps[2::3]) if v > 0]
        area = (
            (max(xs[i] for i in labelled) - min(xs[i] for i in labelled))
            * (max(ys[i] for i in labelled) - min(ys[i] for i in labelled))
            if labelled
            else 0.0
        )
        images.append(
            {
                "id": d["image_id"],
                "file_name": os.path.relpath(d["file_name"], image_root),
                "height": d["height"],
                "width": d["width"],
            }
        )
        annotations.append(
            {
                "id": d["image_id"] + 1,
                "image_id": d["image_id"],
                "category_id": 1,
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": area,
                "iscrowd": 0,
                "keypoints": kps,
                "num_keypoints": len(labelled),
            }
        )
    index = {n: i + 1 for i, n in enumerate(MPII_KEYPOINT_NAMES)}
    skeleton = [[index[a], index[b]] for a, b, _ in MPII_KEYPOINT_CONNECTION_RULES]
    category = {"id": 1, "name": "person", "keypoints": list(MPII_KEYPOINT_NAMES)}
    category["skeleton"] = skeleton
    with open(out_file, "w") as f:
        json.dump({"images": images, "annotations": annotations, "categories": [category]}, f)


def _mpii_metadata(**metadata):
    return dict(
        evaluator_type="pckh",
        thing_classes=["person"],
        keypoint_names=list(MPII_KEYPOINT_NAMES),
        keypoint_flip_map=list(MPII_KEYPOINT_FLIP_MAP),
        keypoint_connection_rules=list(MPII_KEYPOINT_CONNECTION_RULES),
        **metadata,
    )


def register_mpii_json(name, json_file, image_root, **metadata):
    """Register an MPII-style json as dataset ``name`` (evaluated with PCKh)."""
    DatasetCatalog.register(name, lambda: load_mpii_json(json_file, image_root))
    MetadataCatalog.get(name).set(
        **_mpii_metadata(json_file=json_file, image_root=image_root, **metadata)
    )


# The official h5 stores the crop the official training and test code take: MPII's scale
# x SHG_SCALE_PADDING and centre y + SHG_CENTER_SHIFT x (raw) scale, i.e. exactly what
# TopDownPoseMapper adds with its defaults (INPUT.POSE_HOURGLASS.SCALE_PADDING / CENTER_SHIFT).
SHG_SCALE_PADDING = 1.25
SHG_CENTER_SHIFT = 15.0
_H5_KEYS = ("imgname", "part", "visible", "center", "scale", "normalize")


def load_mpii_h5(h5_file, image_root, image_sizes=True):
    """detectron2 dicts (one per person; ``image_id`` = row) from an official Stacked Hourglass
    ``annot/*.h5`` (``imgname``, ``part`` N×16×2, ``visible`` N×16, ``center`` N×2, ``scale``,
    ``normalize``; ``index`` / ``person`` are kept as ``mpii_index`` / ``mpii_person``).

    - ``center`` / ``scale`` are stored **raw** (as the json route has them): the h5 values already
      hold the official crop convention (scale × 1.25, centre y + 15 × raw scale), which
      ``TopDownPoseMapper`` adds itself, so they are converted back (scale / 1.25, centre y − 15 ×
      that scale); the h5 values are kept as ``h5_center`` / ``h5_scale``. With the mapper's
      defaults the crop equals the official one.
    - ``keypoints`` v: 0 where the h5 stores x = 0 (the official evaluation and training treat
      such a joint as "not in picture" — this includes one annotated joint at x = 0 in
      ``valid.h5``), else 2 when ``visible`` else 1 (annotated, occluded: counted by PCKh).
    - ``head_size`` = ``normalize``, the PCKh normaliser (the h5 has no head box).
    - ``height`` / ``width`` are read from the image headers when ``image_sizes``; with False they
      are left out (the mapper fills them from the image it reads).
    """
    import h5py

    with h5py.File(h5_file, "r") as f:
        missing = [k for k in _H5_KEYS if k not in f]
        if missing:
            raise KeyError(f"{h5_file}: missing dataset(s) {missing}")
        data = {k: f[k][()] for k in f.keys() if k in _H5_KEYS + ("index", "person")}
    n, k = len(data["center"]), len(MPII_KEYPOINT_NAMES)
    part = np.asarray(data["part"], np.float64)
    if part.shape != (n, k, 2) or np.shape(data["visible"]) != (n, k):
        raise ValueError(f"{h5_file}: 'part' must be N×{k}×2 and 'visible' N×{k}")
    scale_h5 = np.asarray(data["scale"], np.float64)
    center_h5 = np.asarray(data["center"], np.float64)
    if not (scale_h5 > 0).all():
        raise ValueError(f"{h5_file}: 'scale' must be > 0 (rows {np.flatnonzero(~(scale_h5 > 0))})")
    scale = scale_h5 / SHG_SCALE_PADDING
    center = center_h5 - np.stack([np.zeros(n), SHG_CENTER_SHIFT * scale], 1)
    v = np.where(part[..., 0] == 0, 0.0, np.where(np.asarray(data["visible"]) > 0, 2.0, 1.0))
    keypoints = np.concatenate([part, v[..., None]], 2).reshape(n, -1)
    half = 100.0 * scale
    bbox = np.concatenate([center - half[:, None], center + half[:, None]], 1)
    dicts = []
    for i in range(n):
        name = data["imgname"][i]
        file_name = os.path.join(image_root, name.decode() if isinstance(name, bytes) else name)
        ann = {
            "bbox": bbox[i].tolist(),
            "bbox_mode": BoxMode.XYXY_ABS,
            "category_id": 0,
            "keypoints": keypoints[i].tolist(),
            "center": center[i].tolist(),
            "scale": float(scale[i]),
            "head_size": float(data["normalize"][i]),
            "h5_center": center_h5[i].tolist(),
            "h5_scale": float(scale_h5[i]),
        }
        for key in ("index", "person"):
            if key in data:
                ann[f"mpii_{key}"] = int(data[key][i])
        d = {"file_name": file_name, "image_id": i, "annotations": [ann]}
        if image_sizes:
            with Image.open(file_name) as im:
                d["width"], d["height"] = im.size
        dicts.append(d)
    return dicts


def register_mpii_h5(name, h5_file, image_root, image_sizes=True, **metadata):
    """Register an official Stacked Hourglass ``annot/*.h5`` as dataset ``name``: dicts of
    :func:`load_mpii_h5`, MPII metadata, evaluated with PCKh by the official code's rules
    (``pckh_protocol="shg"``, see ``vision_plugins.evaluation.pckh``; pass
    ``pckh_protocol="mpii"`` for MPII's MATLAB rules)."""
    DatasetCatalog.register(name, lambda: load_mpii_h5(h5_file, image_root, image_sizes))
    metadata.setdefault("pckh_protocol", "shg")
    MetadataCatalog.get(name).set(
        **_mpii_metadata(h5_file=h5_file, image_root=image_root, **metadata)
    )


# The real MPII, converted to the json above, under $DETECTRON2_DATASETS (default ./datasets):
# mpii/annotations/{train,valid}.json and mpii/images/. Loaded only when used.
_BUILTIN_MPII = {
    "mpii_train": ("mpii/annotations/train.json", "mpii/images"),
    "mpii_val": ("mpii/annotations/valid.json", "mpii/images"),
}


def register_builtin_mpii(root=None):
    root = root or os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))
    for name, (json_file, image_root) in _BUILTIN_MPII.items():
        if name not in DatasetCatalog.list():
            register_mpii_json(name, os.path.join(root, json_file), os.path.join(root, image_root))
