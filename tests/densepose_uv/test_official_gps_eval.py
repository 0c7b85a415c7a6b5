"""Optional: GPS / GPSm AP against detectron2's DensePose evaluator itself.

Set ``VP_OFFICIAL_DENSEPOSE=/path/to/detectron2/projects/DensePose``; skipped when unset. On each
seeded case of ``gps_cases`` (vp_densepose_val, a toy SMPL-layout mesh) the same predictor
outputs go through upstream's own chain — ``prediction_to_dict`` (chart result converter,
quantization), ``COCO.loadRes``, ``DensePoseCocoEval`` in GPS and GPSM modes through
``_derive_results_from_coco_eval`` (thresholds 0.50:0.05:0.95) — with the mesh files served
locally (``official_densepose(local_files=...)``), and through our ``DensePoseGPSEvaluator``;
AP, AP50, AP75, APm and APl must agree to 1e-6, and with the numbers recorded in
``data/official_gps_ap.json`` (checked without the official code by ``test_gps_matching.py``).

Re-record (after changing the cases):
``VP_OFFICIAL_DENSEPOSE=... python -m tests.densepose_uv.test_official_gps_eval``.
"""

import json
import os
import sys
import tempfile

import numpy as np
import pytest
from detectron2.structures import Instances
from pycocotools.coco import COCO

from tests.densepose_uv.gps_cases import (
    CASES,
    HAND_CASES,
    KEYS,
    MESH_FILES,
    case_dataset,
    case_predictions,
    hand_case_coco,
    our_results,
    write_toy_mesh,
)
from tests.official.densepose import official_densepose

OFFICIAL = os.environ.get("VP_OFFICIAL_DENSEPOSE")
RECORDED = os.path.join(os.path.dirname(__file__), "data", "official_gps_ap.json")
pytestmark = pytest.mark.skipif(
    not OFFICIAL, reason="set VP_OFFICIAL_DENSEPOSE to projects/DensePose"
)


def official_results(path, mesh_paths, json_file, predictions):
    """``{"densepose_gps": {AP...}, "densepose_gpsm": {...}}`` of upstream's evaluator."""
    with official_densepose(path, local_files=dict(zip(MESH_FILES, mesh_paths))):
        from densepose.evaluation.densepose_coco_evaluation import (
            DensePoseCocoEval,
            DensePoseEvalMode,
        )
        from densepose.evaluation.evaluator import (
            _derive_results_from_coco_eval,
            _get_densepose_metrics,
            prediction_to_dict,
        )
        from densepose.structures import DensePoseChartPredictorOutput

        coco_gt = COCO(json_file)
        person = coco_gt.getCatIds()[0]
        results = []
        for image_id, hw, inst in predictions:
            if len(inst) == 0:
                continue
            theirs = Instances(hw)
            theirs.pred_boxes, theirs.scores = inst.pred_boxes, inst.scores
            theirs.pred_classes = inst.pred_classes
            dp = inst.pred_densepose
            theirs.pred_densepose = DensePoseChartPredictorOutput(
                coarse_segm=dp.coarse_segm, fine_segm=dp.fine_segm, u=dp.u, v=dp.v
            )
            for d in prediction_to_dict(theirs, image_id, None, None, False):
                # upstream's evaluator maps the GT categories to contiguous ids instead
                d["category_id"] = person
                results.append(d)
        coco_dt = coco_gt.loadRes(results)
        out = {}
        metrics = _get_densepose_metrics(0.5)
        for name, mode in (("densepose_gps", "GPS"), ("densepose_gpsm", "GPSM")):
            ev = DensePoseCocoEval(
                coco_gt, coco_dt, "densepose", dpEvalMode=getattr(DensePoseEvalMode, mode)
            )
            res = _derive_results_from_coco_eval(ev, mode, metrics, None, 0.5, None)
            out[name] = {k: res[k] for k in KEYS}
    return out


def run_case(variant, seed, directory):
    mesh = write_toy_mesh(directory)
    json_file, image_root = case_dataset(variant, directory)
    predictions = case_predictions(json_file, seed)
    theirs = official_results(OFFICIAL, mesh, json_file, predictions)
    ours = our_results(json_file, image_root, predictions, mesh)
    return theirs, ours


@pytest.mark.parametrize("variant,seed", CASES)
def test_gps_ap_equals_upstream(variant, seed, tmp_path):
    theirs, ours = run_case(variant, seed, tmp_path)
    with open(RECORDED) as f:
        recorded = json.load(f)["cases"][f"{variant}/{seed}"]
    for metric in theirs:
        for k in KEYS:
            assert ours[metric][k] == pytest.approx(theirs[metric][k], abs=1e-6), (metric, k)
            assert recorded[metric][k] == pytest.approx(theirs[metric][k], abs=1e-6), (metric, k)


@pytest.mark.parametrize("name", sorted(HAND_CASES))
def test_hand_cases_as_upstream_matches_them(name):
    """The hand cases of ``test_gps_matching.py`` through upstream's ``DensePoseCocoEval``
    (GPS mode), its per-pair GPS set by a runtime shim (``computeOgps_single_pair`` returns a
    distance giving the case's value, no mesh is loaded); its matching is untouched."""
    case = HAND_CASES[name]
    with official_densepose(OFFICIAL, local_files={}):
        from densepose.evaluation.densepose_coco_evaluation import (
            DensePoseCocoEval,
            DensePoseEvalMode,
        )

        from tests.official import _patch

        def single_pair(self, dt, gt, py, px, pts):
            gps = case["gps"].get((gt["id"], dt["pred_index"]), 0.0)
            dist = np.sqrt(-2 * np.log(gps)) if gps > 0 else np.inf
            return np.array([dist]), 1.0

        with (
            _patch.attr(DensePoseCocoEval, "computeOgps_single_pair", single_pair),
            _patch.attr(DensePoseCocoEval, "_loadGEval", lambda self: None),
        ):
            coco_gt, detections = hand_case_coco(case)
            ev = DensePoseCocoEval(
                coco_gt, coco_gt.loadRes(detections), "densepose", dpEvalMode=DensePoseEvalMode.GPS
            )
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
    assert (100 * ev.stats[[0, 1, 2, 3, 4]]).tolist() == pytest.approx(case["expected"])


def record():
    """Writes ``data/official_gps_ap.json`` from upstream's evaluator; prints ours beside it."""
    cases, largest = {}, 0.0
    for variant, seed in CASES:
        with tempfile.TemporaryDirectory() as d:
            theirs, ours = run_case(variant, seed, d)
        cases[f"{variant}/{seed}"] = theirs
        for metric in theirs:
            for k in KEYS:
                largest = max(largest, abs(ours[metric][k] - theirs[metric][k]))
        print(variant, seed, json.dumps(theirs), json.dumps(ours), file=sys.stderr)
    data = {
        "produced_by": "VP_OFFICIAL_DENSEPOSE=<detectron2>/projects/DensePose python -m "
        "tests.densepose_uv.test_official_gps_eval",
        "official": "facebookresearch/detectron2 projects/DensePose (DensePoseCocoEval, GPS and "
        "GPSM modes, via prediction_to_dict and _derive_results_from_coco_eval)",
        "official_commit": os.environ.get("VP_OFFICIAL_COMMIT", "unknown"),
        "cases_doc": "tests/densepose_uv/gps_cases.py: CASES = (ground truth variant, seed of "
        "numpy.random.default_rng for the predictions); AP values x 100 as upstream reports",
        "cases": cases,
    }
    os.makedirs(os.path.dirname(RECORDED), exist_ok=True)
    with open(RECORDED, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    print(f"largest |ours - official|: {largest}", file=sys.stderr)


if __name__ == "__main__":
    if not OFFICIAL:
        sys.exit("set VP_OFFICIAL_DENSEPOSE")
    record()
