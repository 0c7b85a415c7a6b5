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

The official val ground truth can also be read directly (``load_widerface_mat``,
``register_widerface(..., gt_dir=...)``, or the builtin ``widerface_val`` when
``widerface/val/ground_truth/wider_face_val.mat`` exists): ``wider_face_val.mat`` (``event_list``,
``file_list``, ``face_bbx_list``: x y w h per face) and ``wider_{easy,medium,hard}_val.mat``
(``gt_list``: 1-based indices of the faces counted at each level; the others are ignored).

Faces with w <= 0 or h <= 0 are left out of ``annotations`` (training cannot use them) but the
official evaluation keeps every listed face: each dict also carries ``wider_gt`` =
``{"boxes": (K, 4) float64 XYWH of every face, "counted": {level: bool (K,)}}``, which
``WiderFaceEvaluator`` evaluates.
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
    "load_widerface_mat",
    "read_wider_mat",
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


def _degenerate(ann):
    return not (ann["bbox"][2] > 0 and ann["bbox"][3] > 0)


def _read_label_file(label_file, image_root, check_images):
    if not os.path.isfile(label_file):
        raise FileNotFoundError(f"WIDER FACE label file {label_file!r} does not exist")
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
    return dicts


def load_widerface_labels(label_file, image_root, check_images=True, keep_degenerate=False):
    """detectron2 dicts from a ``label.txt``: faces with w <= 0 or h <= 0 are dropped from
    ``annotations`` unless ``keep_degenerate`` (``wider_gt`` keeps them all, see the module
    docstring); ``check_images=False`` skips opening each image for its size (height/width
    then 0). ``subsets.json`` next to it, when present, lists a level for every face line."""
    dicts = _read_label_file(label_file, image_root, check_images)
    subsets_file = os.path.join(os.path.dirname(label_file), "subsets.json")
    subsets = {}
    if os.path.isfile(subsets_file):
        with open(subsets_file) as f:
            subsets = json.load(f)
    for d in dicts:
        path = d.pop("_path")
        levels = subsets.get(path)
        if levels is not None and len(levels) != len(d["annotations"]):
            raise ValueError(
                f"{subsets_file}: {path} has {len(levels)} levels for {len(d['annotations'])} faces"
            )
        for k, ann in enumerate(d["annotations"]):
            ann["wider_level"] = levels[k] if levels is not None else "easy"
        face_levels = [a["wider_level"] for a in d["annotations"]]
        d["wider_gt"] = {
            "boxes": np.array([a["bbox"] for a in d["annotations"]], np.float64).reshape(-1, 4),
            "counted": {
                lv: np.array([f in WIDER_LEVELS[: k + 1] for f in face_levels], bool)
                for k, lv in enumerate(WIDER_LEVELS)
            },
        }
        if not keep_degenerate:
            d["annotations"] = [a for a in d["annotations"] if not _degenerate(a)]
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


def _has_mat(gt_dir):
    return gt_dir is not None and os.path.isfile(os.path.join(gt_dir, "wider_face_val.mat"))


def _load_split(label_file, image_root, gt_dir, require_mat):
    if require_mat or _has_mat(gt_dir):
        return load_widerface_mat(gt_dir, image_root)
    return load_widerface_labels(label_file, image_root)


def register_widerface(name, label_file, image_root, gt_dir=None, **metadata):
    """Register a split as ``name`` (evaluated with the WIDER FACE protocol): from the official
    ``.mat`` ground truth in ``gt_dir`` when given (``label_file`` is then unused and may be
    None), else from the ``label.txt`` ``label_file``."""
    DatasetCatalog.register(
        name, lambda: _load_split(label_file, image_root, gt_dir, gt_dir is not None)
    )
    if gt_dir is not None:
        metadata["gt_dir"] = gt_dir
    MetadataCatalog.get(name).set(
        json_file=label_file, image_root=image_root, evaluator_type="widerface",
        thing_classes=["face"], keypoint_names=list(FACE_KEYPOINT_NAMES),
        keypoint_flip_map=list(FACE_KEYPOINT_FLIP_MAP), **metadata,
    )  # fmt: skip


# WIDER FACE + retinaface_gt_v1.1 under $DETECTRON2_DATASETS (default ./datasets):
# widerface/{train,val}/label.txt and widerface/{train,val}/images/; for val, the official
# ground truth widerface/val/ground_truth/wider_*.mat is used instead of label.txt when present.
_BUILTIN = {"widerface_train": "train", "widerface_val": "val"}


def register_builtin_widerface(root=None):
    root = root or os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))
    for name, split in _BUILTIN.items():
        if name not in DatasetCatalog.list():
            base = os.path.join(root, "widerface", split)
            label, images = os.path.join(base, "label.txt"), os.path.join(base, "images")
            gt_dir = os.path.join(base, "ground_truth") if split == "val" else None
            DatasetCatalog.register(
                name, lambda a=label, b=images, c=gt_dir: _load_split(a, b, c, False)
            )
            MetadataCatalog.get(name).set(
                json_file=label, image_root=images, evaluator_type="widerface",
                thing_classes=["face"], keypoint_names=list(FACE_KEYPOINT_NAMES),
                keypoint_flip_map=list(FACE_KEYPOINT_FLIP_MAP), gt_dir=gt_dir,
            )  # fmt: skip


def _cells(x):
    """MATLAB cell array (as scipy loads it) -> flat list of its elements."""
    return [c for c in x.reshape(-1)]


def read_wider_mat(gt_dir):
    """The official WIDER FACE val ground truth as the toolkit ships it (``scipy.io.loadmat``):
    ``[(event, file name without .jpg, boxes (K, 4) float64 XYWH of every listed face,
    {level: bool (K,) counted at that level}), ...]`` in the ``.mat`` order (events, files)."""
    from scipy.io import loadmat

    def load(name):
        path = os.path.join(gt_dir, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"WIDER FACE ground truth {path!r} does not exist")
        return loadmat(path)

    gt = load("wider_face_val.mat")
    lists = {lv: _cells(load(f"wider_{lv}_val.mat")["gt_list"]) for lv in WIDER_LEVELS}
    out = []
    for e, (event, files, boxes) in enumerate(
        zip(_cells(gt["event_list"]), _cells(gt["file_list"]), _cells(gt["face_bbx_list"]))
    ):
        event = str(event.reshape(-1)[0])
        for i, (name, bbx) in enumerate(zip(_cells(files), _cells(boxes))):
            bbx = np.asarray(bbx, np.float64).reshape(-1, 4)
            counted = {}
            for lv in WIDER_LEVELS:
                idx = np.asarray(_cells(lists[lv][e])[i], np.int64).reshape(-1)
                if len(idx) and (idx.min() < 1 or idx.max() > len(bbx)):
                    raise ValueError(
                        f"{gt_dir}: wider_{lv}_val.mat lists face {int(idx.max())} of "
                        f"{event}/{name.reshape(-1)[0]}, which has {len(bbx)} faces"
                    )
                counted[lv] = np.zeros(len(bbx), bool)
                counted[lv][idx - 1] = True
            out.append((event, str(name.reshape(-1)[0]), bbx, counted))
    return out


def _easiest_level(counted, k):
    return next((lv for lv in WIDER_LEVELS if counted[lv][k]), "none")


def load_widerface_mat(gt_dir, image_root, check_images=False):
    """detectron2 dicts of the official val ground truth in ``gt_dir`` (``read_wider_mat``):
    images ``<image_root>/<event>/<name>.jpg`` in the ``.mat`` order, ``annotations`` = the faces
    with w > 0 and h > 0 (no landmarks: keypoints v = 0; ``wider_level`` = the easiest level
    counting the face, "none" if no level does), ``wider_gt`` = every listed face and the faces
    counted at each level (what ``WiderFaceEvaluator`` evaluates). ``check_images`` opens each
    image for its size (else height / width 0)."""
    dicts = []
    for event, name, boxes, counted in read_wider_mat(gt_dir):
        file_name = os.path.join(image_root, event, name + ".jpg")
        width = height = 0
        if check_images:
            with Image.open(file_name) as im:
                width, height = im.size
        anns = []
        for k, box in enumerate(boxes.tolist()):
            ann = _face(box, gt_dir)
            ann["wider_level"] = _easiest_level(counted, k)
            if not _degenerate(ann):
                anns.append(ann)
        dicts.append({
            "file_name": file_name, "image_id": len(dicts), "height": height, "width": width,
            "annotations": anns, "wider_gt": {"boxes": boxes, "counted": counted},
        })  # fmt: skip
    return dicts


def wider_mat_subsets(gt_dir, label_file, out_file=None):
    """Levels of the official WIDER FACE val ground truth for the faces of ``label_file``.

    ``gt_dir`` holds the toolkit's ``wider_face_val.mat`` (``event_list``, ``file_list``,
    ``face_bbx_list``) and ``wider_{easy,medium,hard}_val.mat`` (``gt_list``: 1-based indices of
    the faces counted at each level). Each face of ``label_file`` (every line, degenerate boxes
    included, so that the file loads with it) is identified with the official box it equals
    (nearest, within 1 px) and gets the easiest level listing it ("none" when no level does,
    i.e. never counted). Returns ``{image path: [level, ...]}`` and writes it as
    ``subsets.json`` (``out_file``, default next to ``label_file``)."""
    official = {}
    for event, name, boxes, counted in read_wider_mat(gt_dir):
        levels = [_easiest_level(counted, k) for k in range(len(boxes))]
        official[f"{event}/{name}.jpg"] = (boxes, levels)
    subsets = {}
    image_root = os.path.dirname(label_file)
    for d in _read_label_file(label_file, image_root, check_images=False):
        path = d.pop("_path")
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
