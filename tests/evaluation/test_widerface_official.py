"""Optional: WIDER FACE AP against the official kit on the real val ground truth.

Set ``VP_OFFICIAL_RETINAFACE=/path/to/Pytorch_Retinaface`` (a checkout of
biubug6/Pytorch_Retinaface); skipped when unset or without ../shared/real/widerface_val. For
every seeded case of ``test_widerface_real.CASES`` the predictions are written in the official
prediction-folder format (``<event>/<image>.txt``: image name, count, then ``x y w h score`` per
line, values as ``repr`` so they read back exactly) and evaluated by the kit's own
``evaluation()`` (``widerface_evaluate/evaluation.py``, through ``tests.official.retinaface.
official_widerface_evaluation``: its Cython ``bbox`` compiled here when Cython is available,
else a NumPy stand-in with the same formula) against the real ``.mat`` files, and by our
``wider_ap``: easy / medium / hard AP must agree to 1e-9, and with the numbers recorded in
``data/widerface_official_ap.json`` (checked without the official code by
``test_widerface_real.py``).

Re-record (after changing the cases; ~1 min per case on one core):
``VP_OFFICIAL_RETINAFACE=... python -m tests.evaluation.test_widerface_official``.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from tests.evaluation.test_widerface_real import (
    CASES,
    LEVELS,
    REAL,
    RECORDED,
    case_predictions,
    xyxy,
)
from tests.official.retinaface import _numpy_bbox_overlaps, official_widerface_evaluation
from vision_plugins.data.widerface import read_wider_mat
from vision_plugins.evaluation.widerface import wider_ap

OFFICIAL = os.environ.get("VP_OFFICIAL_RETINAFACE")
pytestmark = [
    pytest.mark.skipif(not OFFICIAL, reason="set VP_OFFICIAL_RETINAFACE to a checkout"),
    pytest.mark.skipif(
        not os.path.isfile(os.path.join(REAL, "wider_face_val.mat")),
        reason="../shared/real/widerface_val is absent",
    ),
]


def write_prediction_folder(root, faces, preds):
    """The official format, one file per image of the ground truth (the kit reads every image
    it lists; an image without detections gets a file with count 0)."""
    for (event, name, _, _), p in zip(faces, preds):
        os.makedirs(os.path.join(root, event), exist_ok=True)
        lines = [name, str(len(p))] + [" ".join(repr(float(v)) for v in row) for row in p]
        with open(os.path.join(root, event, name + ".txt"), "w") as f:
            f.write("\n".join(lines) + "\n")


def run_case(ns, faces, name, seed):
    preds = case_predictions(name, seed, faces)
    with tempfile.TemporaryDirectory(prefix="vp_wider_pred_") as d:
        write_prediction_folder(d, faces, preds)
        theirs = dict(zip(LEVELS, ns.run(d, REAL)))
    gts = [(xyxy(b), c) for _, _, b, c in faces]
    ours = wider_ap([xyxy(p) for p in preds], gts)
    return theirs, ours


@pytest.fixture(scope="module")
def official():
    with official_widerface_evaluation(OFFICIAL) as ns:
        yield ns


@pytest.fixture(scope="module")
def faces():
    return read_wider_mat(REAL)


@pytest.mark.parametrize("name,seed", CASES)
def test_wider_ap_equals_official(official, faces, name, seed):
    theirs, ours = run_case(official, faces, name, seed)
    with open(RECORDED) as f:
        recorded = json.load(f)["cases"][f"{name}/{seed}"]
    for lv in LEVELS:
        assert ours[lv] == pytest.approx(theirs[lv], abs=1e-9, rel=0), (lv, ours, theirs)
        assert recorded[lv] == pytest.approx(theirs[lv], abs=1e-9, rel=0)


def record():
    """Writes ``data/widerface_official_ap.json`` from the kit's ``evaluation()``; prints ours
    beside it and the largest difference."""
    faces = read_wider_mat(REAL)
    cases, largest = {}, 0.0
    with official_widerface_evaluation(OFFICIAL) as ns:
        impl = ns.bbox_impl
        for name, seed in CASES:
            theirs, ours = run_case(ns, faces, name, seed)
            cases[f"{name}/{seed}"] = theirs
            largest = max([largest] + [abs(ours[lv] - theirs[lv]) for lv in LEVELS])
            print(name, seed, json.dumps(theirs), json.dumps(ours), file=sys.stderr)
    commit = subprocess.run(["git", "-C", OFFICIAL, "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()  # fmt: skip
    data = {
        "produced_by": "VP_OFFICIAL_RETINAFACE=<Pytorch_Retinaface checkout> python -m "
        "tests.evaluation.test_widerface_official",
        "official": "biubug6/Pytorch_Retinaface widerface_evaluate/evaluation.py evaluation() on "
        "the prediction folders written by write_prediction_folder; bbox: " + impl,
        "official_commit": os.environ.get("VP_OFFICIAL_COMMIT", commit or "unknown"),
        "ground_truth": "../shared/real/widerface_val (the kit's ground_truth/*.mat)",
        "cases_doc": "tests/evaluation/test_widerface_real.py: CASES = (case, seed of "
        "numpy.random.default_rng), predictions by case_predictions; AP in [0, 1] as the kit's "
        "voc_ap returns it (easy, medium, hard)",
        "largest_difference_ours": largest,
        "cases": cases,
    }
    os.makedirs(os.path.dirname(RECORDED), exist_ok=True)
    with open(RECORDED, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    print(f"bbox: {impl}; largest |ours - official|: {largest}", file=sys.stderr)


if __name__ == "__main__":
    if not OFFICIAL:
        sys.exit("set VP_OFFICIAL_RETINAFACE")
    record()


def test_numpy_bbox_stand_in_equals_the_kit(official):
    """The NumPy stand-in (used when Cython cannot build) against the compiled kit, on boxes
    with degenerate and negative sizes."""
    if not official.bbox_impl.startswith("cython"):
        pytest.skip(f"the kit's bbox is {official.bbox_impl}")
    rng = np.random.default_rng(0)
    xy = rng.integers(0, 40, (200, 2)).astype(float)
    boxes = np.concatenate([xy, xy + rng.integers(-3, 25, (200, 2))], 1)
    a, b = boxes[:120], boxes[120:]
    np.testing.assert_array_equal(
        _numpy_bbox_overlaps(a, b), official.evaluation.bbox_overlaps(a, b)
    )
