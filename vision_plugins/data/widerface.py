"""WIDER FACE with RetinaFace's landmark annotations (the ``retinaface_gt`` ``label.txt``).

Format: for each image a ``# <path relative to image_root>`` line, then one line per face::

    x y w h  lx0 ly0 f0  lx1 ly1 f1  lx2 ly2 f2  lx3 ly3 f3  lx4 ly4 f4  blur

(pixels; landmarks left eye, right eye, nose, left mouth corner, right mouth corner; ``-1``
coordinates = no landmarks). Each image becomes a detectron2 dict whose faces have ``bbox``
(XYWH_ABS), ``category_id`` 0 and ``keypoints`` [x, y, v] × 5 (v = 2 annotated, 0 missing).
Evaluation levels: an optional ``subsets.json`` next to ``label.txt`` maps each image path to the
level of each face ("easy", "medium", "hard"; WIDER's easy ⊂ medium ⊂ hard sets count the
faces of their level and easier), stored as ``wider_level``; without it every face counts at
every level. ``wider_mat_subsets`` writes it from the toolkit's official ``.mat`` files.
"""

import json
import os

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from PIL import Image

__all__ = [
    "FACE_KEYPOINT_NAMES",
    "FACE_KEYPOINT_FLIP_MAP",
    "WIDER_LEVELS",
    "load_widerface_labels",
    "register_widerface",
    "register_builtin_widerface",
    "wider_mat_subsets",
    "write_widerface_labels",
]

FACE_KEYPOINT_NAMES = ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth")
FACE_KEYPOINT_FLIP_MAP = (("left_eye", "right_eye"), ("left_mouth", "right_mouth"))
WIDER_LEVELS = ("easy", "medium", "hard")


def _face(values, where):
    if len(values) < 4:
        raise ValueError(f"{where}: a face line needs at least x y w h, got {values}")
    x, y, w, h = values[:4]
    keypoints = []
    if len(values) >= 19 and values[4] >= 0:
        for k in range(5):
            keypoints += [values[4 + 3 * k], values[5 + 3 * k], 2.0]
    else:
        keypoints = [0.0, 0.0, 0.0] * 5
    return {"bbox": [x, y, w, h], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0,
            "keypoints": keypoints}  # fmt: skip


def load_widerface_labels(label_file, image_root, check_images=True):
    """detectron2 dicts from a ``label.txt`` (faces with w <= 0 or h <= 0 are dropped);
    ``check_images=False`` skips opening each image for its size (height/width then 0)."""
    if not os.path.isfile(label_file):
        raise FileNotFoundError(f"WIDER FACE label file {label_file!r} does not exist")
    subsets_file = os.path.join(os.path.dirname(label_file), "subsets.json")
    subsets = {}
    if os.path.isfile(subsets_file):
        with open(subsets_file) as f:
            subsets = json.load(f)
    dicts, current = [], None
    with open(label_file) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                path = line[1:].strip()
                file_name = os.path.join(image_root, path)
                width = height = 0
                if check_images:
                    with Image.open(file_name) as im:
                        width, height = im.size
                current = {"file_name": file_name, "image_id": len(dicts), "height": height,
                           "width": width, "annotations": [], "_path": path}  # fmt: skip
                dicts.append(current)
                continue
            if current is None:
                raise ValueError(f"{label_file}:{n}: a face line before any '# image' line")
            try:
                values = [float(v) for v in line.split()]
            except ValueError:
                raise ValueError(f"{label_file}:{n}: not numbers: {line!r}") from None
            current["annotations"].append(_face(values, f"{label_file}:{n}"))
    for d in dicts:
        path = d.pop("_path")
        levels = subsets.get(path)
        if levels is not None and len(levels) != len(d["annotations"]):
            raise ValueError(
                f"{subsets_file}: {path} has {len(levels)} levels for {len(d['annotations'])} faces"
            )
        for k, ann in enumerate(d["annotations"]):
            ann["wider_level"] = levels[k] if levels is not None else "easy"
        d["annotations"] = [a for a in d["annotations"] if a["bbox"][2] > 0 and a["bbox"][3] > 0]
    return dicts


def write_widerface_labels(label_file, images):
    """Write ``label.txt`` from ``[(path, [(box xywh, landmarks 5x2 or None), ...]), ...]``."""
    with open(label_file, "w") as f:
        for path, faces in images:
            f.write(f"# {path}\n")
            for box, landmarks in faces:
                values = list(box)
                for k in range(5):
                    values += [-1.0, -1.0, -1.0] if landmarks is None else [*landmarks[k], 0.0]
                values.append(0.0)  # blur
                f.write(" ".join(f"{v:.2f}" for v in values) + "\n")


def register_widerface(name, label_file, image_root, **metadata):
    """Register a ``label.txt`` split as ``name`` (evaluated with the WIDER FACE protocol)."""
    DatasetCatalog.register(name, lambda: load_widerface_labels(label_file, image_root))
    MetadataCatalog.get(name).set(
        json_file=label_file, image_root=image_root, evaluator_type="widerface",
        thing_classes=["face"], keypoint_names=list(FACE_KEYPOINT_NAMES),
        keypoint_flip_map=list(FACE_KEYPOINT_FLIP_MAP), **metadata,
    )  # fmt: skip


# WIDER FACE + retinaface_gt_v1.1 under $DETECTRON2_DATASETS (default ./datasets):
# widerface/{train,val}/label.txt and widerface/{train,val}/images/.
_BUILTIN = {"widerface_train": "train", "widerface_val": "val"}


def register_builtin_widerface(root=None):
    root = root or os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))
    for name, split in _BUILTIN.items():
        if name not in DatasetCatalog.list():
            base = os.path.join(root, "widerface", split)
            register_widerface(name, os.path.join(base, "label.txt"), os.path.join(base, "images"))


def _cells(x):
    """MATLAB cell array (as scipy loads it) -> flat list of its elements."""
    return [c for c in x.reshape(-1)]


def wider_mat_subsets(gt_dir, label_file, out_file=None):
    """Levels of the official WIDER FACE val ground truth for the faces of ``label_file``.

    ``gt_dir`` holds the toolkit's ``wider_face_val.mat`` (``event_list``, ``file_list``,
    ``face_bbx_list``) and ``wider_{easy,medium,hard}_val.mat`` (``gt_list``: 1-based indices of
    the faces counted at each level). Each face of ``label_file`` is identified with the official
    box it equals (nearest, within 1 px) and gets the easiest level listing it ("none" when no
    level does, i.e. never counted). Returns ``{image path: [level, ...]}`` and writes it as
    ``subsets.json`` (``out_file``, default next to ``label_file``)."""
    from scipy.io import loadmat

    def load(name):
        path = os.path.join(gt_dir, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"WIDER FACE ground truth {path!r} does not exist")
        return loadmat(path)

    gt = load("wider_face_val.mat")
    lists = {lv: _cells(load(f"wider_{lv}_val.mat")["gt_list"]) for lv in WIDER_LEVELS}
    official = {}
    for e, (event, files, boxes) in enumerate(
        zip(_cells(gt["event_list"]), _cells(gt["file_list"]), _cells(gt["face_bbx_list"]))
    ):
        event = str(event.reshape(-1)[0])
        for i, (name, bbx) in enumerate(zip(_cells(files), _cells(boxes))):
            levels = ["none"] * len(bbx)
            for lv in reversed(WIDER_LEVELS):  # easiest level last: it wins
                for k in _cells(lists[lv][e])[i].reshape(-1):
                    levels[int(k) - 1] = lv
            path = f"{event}/{str(name.reshape(-1)[0])}.jpg"
            official[path] = (np.asarray(bbx, np.float64).reshape(-1, 4), levels)
    subsets = {}
    image_root = os.path.dirname(label_file)
    for d in load_widerface_labels(label_file, image_root, check_images=False):
        path = d["file_name"][len(image_root) + 1 :]
        boxes, levels = official.get(path, (np.zeros((0, 4)), []))
        out = []
        for a in d["annotations"]:
            dist = np.abs(boxes - np.asarray(a["bbox"])).max(1) if len(boxes) else np.zeros(0)
            out.append(levels[int(dist.argmin())] if len(dist) and dist.min() <= 1 else "none")
        subsets[path] = out
    out_file = out_file or os.path.join(os.path.dirname(label_file), "subsets.json")
    with open(out_file, "w") as f:
        json.dump(subsets, f, sort_keys=True)
    return subsets
