"""vp_faces and the WIDER FACE label.txt loader: format, landmarks, levels, errors."""

import numpy as np
import pytest
from detectron2.data import MetadataCatalog
from detectron2.structures import BoxMode

from vision_plugins.data.synthetic import ensure_generated
from vision_plugins.data.widerface import load_widerface_labels, write_widerface_labels


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return ensure_generated("vp_faces_val", num_images=20, root=str(tmp_path_factory.mktemp("vp")))


def test_faces_have_landmarks_inside_their_boxes(small):
    dicts = load_widerface_labels(*small)
    anns = [a for d in dicts for a in d["annotations"]]
    assert len(dicts) == 20 and len(anns) > 20
    with_points = 0
    for a in anns:
        x1, y1, x2, y2 = BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS)
        kp = np.asarray(a["keypoints"]).reshape(5, 3)
        if kp[0, 2] > 0:
            with_points += 1
            assert (kp[:, 0] > x1 - 2).all() and (kp[:, 0] < x2 + 2).all()
            assert kp[0, 0] < kp[1, 0] and kp[3, 0] < kp[4, 0]  # left = smaller x
            assert kp[2, 1] > kp[0, 1] and kp[3, 1] > kp[2, 1]  # eyes, nose, mouth downwards
        else:
            assert (kp == 0).all()  # -1 in label.txt: no landmarks
    assert 0 < with_points < len(anns)
    levels = {a["wider_level"] for a in anns}
    assert levels <= {"easy", "medium", "hard"} and len(levels) >= 2


def test_registered_with_widerface_metadata():
    meta = MetadataCatalog.get("vp_faces_train")
    assert meta.evaluator_type == "widerface" and meta.thing_classes == ["face"]
    assert meta.keypoint_flip_map == [("left_eye", "right_eye"), ("left_mouth", "right_mouth")]


def test_label_file_round_trip_and_errors(tmp_path):
    import cv2

    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((20, 30, 3), np.uint8))
    points = np.arange(10, dtype=float).reshape(5, 2)
    label = str(tmp_path / "label.txt")
    write_widerface_labels(label, [("a.png", [((1, 2, 10, 12), points), ((5, 5, 4, 4), None)])])
    (d,) = load_widerface_labels(label, str(tmp_path / "images"))
    assert (d["height"], d["width"]) == (20, 30)
    assert d["annotations"][0]["bbox"] == [1, 2, 10, 12]
    np.testing.assert_allclose(np.reshape(d["annotations"][0]["keypoints"], (5, 3))[:, :2], points)
    with open(label, "a") as f:
        f.write("1 2 x 4\n")
    with pytest.raises(ValueError, match="label.txt:4: not numbers"):
        load_widerface_labels(label, str(tmp_path / "images"))
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        load_widerface_labels(str(tmp_path / "missing.txt"), str(tmp_path))


def test_levels_from_the_official_mat_layout(tmp_path):
    from scipy.io import savemat

    from vision_plugins.data.widerface import wider_mat_subsets

    def cell(items):
        out = np.empty((len(items), 1), dtype=object)
        for i, x in enumerate(items):
            out[i, 0] = x
        return out

    boxes = np.array([[10, 10, 30, 40], [50, 5, 8, 9], [70, 70, 4, 5]], float)
    savemat(tmp_path / "wider_face_val.mat", {
        "event_list": cell(["0--Parade"]),
        "file_list": cell([cell(["img_1"])]),
        "face_bbx_list": cell([cell([boxes])]),
    })  # fmt: skip
    # face 1 (0-based 0) easy; face 2 medium; face 3 in no list (never counted)
    for level, idx in [("easy", [1]), ("medium", [1, 2]), ("hard", [1, 2])]:
        gt = cell([cell([np.array(idx, float).reshape(-1, 1)])])
        savemat(tmp_path / f"wider_{level}_val.mat", {"gt_list": gt})
    label = tmp_path / "label.txt"
    # label.txt lists the faces in another order
    write_widerface_labels(str(label), [("0--Parade/img_1.jpg", [(b, None) for b in boxes[::-1]])])
    subsets = wider_mat_subsets(str(tmp_path), str(label))
    assert subsets == {"0--Parade/img_1.jpg": ["none", "medium", "easy"]}
    assert (tmp_path / "subsets.json").exists()
