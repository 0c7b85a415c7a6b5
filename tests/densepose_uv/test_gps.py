"""GPS on a toy chart against hand-computed values, and the per-pixel conversion."""

import math
import pickle

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, Instances
from scipy.io import savemat

from vision_plugins.data.densepose import load_densepose_coco_json
from vision_plugins.data.synthetic import ensure_generated
from vision_plugins.densepose_uv.heads import DensePoseUVOutput
from vision_plugins.evaluation.densepose import (
    DensePoseGPSEvaluator,
    PlanarChartGeodesics,
    SMPLGeodesics,
    geodesics_for,
    gps_score,
    quantize_iuv,
)
from vision_plugins.evaluation.densepose_results import densepose_masks, densepose_to_iuv


def _sheet(i, u, v):
    """Parts side by side on a line: part k covers x in [k - 1, k]; y = v."""
    return np.asarray(i) - 1 + np.asarray(u), np.asarray(v, dtype=float)


def test_gps_hand_values():
    geo = PlanarChartGeodesics(_sheet, kappa=np.array([0.0, 0.5, 1.0]))  # indexed by GT part
    # GT box (10, 20, 8, 8), detection box (10.0, 20.0, 8.6, 8.2) -> an 8x8 result. Points
    # (evaluator: dp / 255 x size): x 80 -> 2.51 -> 2, 208 -> 6.53 -> 6, -40 -> -1.25 -> -1
    # (outside), -20 -> -0.63 -> 0 (truncation: inside)
    ann = {
        "bbox": [10.0, 20.0, 8.0, 8.0],
        "dp_x": [80.0, 208.0, -40.0, -20.0],
        "dp_y": [80.0, 208.0, 32.0, 32.0],
        "dp_I": [1, 2, 1, 1],
        "dp_U": [0.2, 0.5, 0.5, 0.4],
        "dp_V": [0.6, 0.5, 0.5, 0.6],
    }
    iuv = np.zeros((3, 8, 8), np.uint8)
    iuv[:, 2, 2] = [1, 51, 153]  # U 0.2, V 0.6: exact -> 1
    iuv[:, 6, 6] = [1, 127, 25]  # GT (part 2: x 1.5, y .5) vs (x 127/255, y 25/255)
    iuv[:, 1, 0] = [1, 102, 153]  # the 4th point, exact (U 0.4, V 0.6)
    det = [10.0, 20.0, 8.6, 8.2]
    g2 = (1.5 - 127 / 255) ** 2 + (0.5 - 25 / 255) ** 2
    expected = (1 + math.exp(-g2 / (2 * 1.0**2)) + 0 + 1) / 4
    assert gps_score(ann, iuv, det, geo) == pytest.approx(expected)
    iuv[0, 6, 6] = 0  # predicted background -> 0
    assert gps_score(ann, iuv, det, geo) == pytest.approx(2 / 4)
    assert gps_score(ann, iuv, [100.0, 100.0, 8.0, 8.0], geo) == 0.0  # every point outside


def test_quantized_results():
    iuv = torch.tensor([[[2.0]], [[0.999]], [[1.2]]])
    assert quantize_iuv(iuv).tolist() == [[[2]], [[254]], [[255]]]


def test_iuv_conversion_and_masks():
    coarse = torch.zeros(1, 2, 2, 2)
    coarse[0, 1, :, 1] = 5.0  # right column foreground
    fine = torch.zeros(1, 3, 2, 2)
    fine[0, 2] = 1.0  # part 2 everywhere
    u = torch.zeros(1, 3, 2, 2)
    u[0, 2] = 0.75
    v = torch.full((1, 3, 2, 2), 0.25)
    out = DensePoseUVOutput(coarse, fine, u, v)
    (iuv,) = densepose_to_iuv(out, torch.tensor([[1.0, 2.0, 3.0, 4.0]]))  # 2x2 integer box
    assert iuv.tolist() == [[[0, 2], [0, 2]], [[0, 0.75], [0, 0.75]], [[0, 0.25], [0, 0.25]]]
    masks = densepose_masks([iuv], torch.tensor([[1.0, 2.0, 3.0, 4.0]]), 5, 5)
    expected = torch.zeros(5, 5, dtype=torch.bool)
    expected[2:4, 2] = True
    assert torch.equal(masks[0], expected)


def _chart_maps(size=56):
    """Maps of a body filling its box exactly (the vp_densepose chart)."""
    c = (torch.arange(size) + 0.5) / size * 2
    col, row = c.floor().clamp(max=1), c.floor().clamp(max=1)
    part = (1 + col[None, :] + 2 * row[:, None]).long()  # S x S
    fine = torch.nn.functional.one_hot(part, 5).permute(2, 0, 1).float() * 20
    coarse = torch.nn.functional.one_hot(1 + row[:, None].expand(size, size).long(), 3)
    u = (c - col)[None, :].expand(size, size)
    v = (c - row)[:, None].expand(size, size)
    return coarse.permute(2, 0, 1).float() * 20, fine, u.expand(5, -1, -1), v.expand(5, -1, -1)


def test_evaluator_scores_chart_perfect_predictions_high():
    json_file, image_root = ensure_generated("vp_densepose_val", num_images=8)
    name = "vp_test_densepose_eval"
    DatasetCatalog.register(name, lambda: load_densepose_coco_json(json_file, image_root, name))
    MetadataCatalog.get(name).set(json_file=json_file, densepose_geodesics="vp_planar_chart")
    try:
        evaluator = DensePoseGPSEvaluator(name, geodesics_for(name), distributed=False)
        evaluator.reset()
        coarse, fine, u, v = _chart_maps()
        for d in DatasetCatalog.get(name):
            anns = [a for a in d["annotations"] if "dp_x" in a]
            inst = Instances((d["height"], d["width"]))
            boxes = [[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)]
            inst.pred_boxes = Boxes(torch.tensor(boxes).reshape(-1, 4))
            inst.scores = torch.full((len(anns),), 0.9)
            inst.pred_classes = torch.zeros(len(anns), dtype=torch.long)
            n = len(anns)
            inst.pred_densepose = DensePoseUVOutput(
                coarse[None].repeat(n, 1, 1, 1),
                fine[None].repeat(n, 1, 1, 1),
                u[None].repeat(n, 1, 1, 1),
                v[None].repeat(n, 1, 1, 1),
            )
            evaluator.process([d], [{"instances": inst}])
        results = evaluator.evaluate()
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    # occluded bodies' boxes do not span the whole chart: high, not perfect
    assert results["densepose_gps"]["AP"] > 80 and results["densepose_gpsm"]["AP"] > 80
    assert results["densepose_points"]["part_accuracy"] > 90
    assert results["densepose_points"]["uv_error"] < 0.1


def test_smpl_geodesics_from_local_files(tmp_path):
    """A toy mesh in DensePose's file layout: 6 subdivided vertices (parts 1 and 2), mapped to 5
    table vertices (the last two merge); distance of table vertices (lo < hi) = 10 hi + lo."""
    savemat(
        tmp_path / "SMPL_subdiv.mat",
        {
            "U_subdiv": np.array([[0.1, 0.5, 0.9, 0.1, 0.5, 0.9]]),
            "V_subdiv": np.array([[0.1, 0.5, 0.9, 0.1, 0.5, 0.9]]),
            "Part_ID_subdiv": np.array([[1, 1, 1, 2, 2, 2]]),
        },
    )
    savemat(tmp_path / "SMPL_SUBDIV_TRANSFORM.mat", {"index": np.array([[1, 2, 3, 4, 5, 5]])})
    n = 5
    packed = np.zeros((n * (n - 1) // 2, 1))
    for hi in range(n):
        for lo in range(hi):
            packed[hi * (hi - 1) // 2 + lo] = 10 * hi + lo
    with open(tmp_path / "Pdist_matrix.pkl", "wb") as f:
        pickle.dump({"Pdist_matrix": packed}, f)
    geo = SMPLGeodesics(
        *(
            str(tmp_path / f)
            for f in ("SMPL_subdiv.mat", "SMPL_SUBDIV_TRANSFORM.mat", "Pdist_matrix.pkl")
        )
    )
    # nearest vertices: (1, .12, .1) -> 1; (2, .6, .6) -> 5; (2, .95, .9) -> 6 -> table 5;
    # (1, .5, .45) -> 2; background -> none
    d = geo.distance(
        np.array([1, 2, 1, 1]), np.array([0.12, 0.6, 0.5, 0.1]), np.array([0.1, 0.6, 0.45, 0.1]),
        np.array([2, 2, 1, 0]), np.array([0.6, 0.95, 0.1, 0.5]), np.array([0.6, 0.9, 0.1, 0.5]),
    )  # fmt: skip
    assert d.tolist() == [10 * 4 + 0, 0.0, 10 * 1 + 0, np.inf]
    assert geo.kappa(np.array([1, 3, 24])).tolist() == [0.351, 0.107, 0.150]
    with pytest.raises(FileNotFoundError, match="missing.pkl"):
        SMPLGeodesics(
            str(tmp_path / "SMPL_subdiv.mat"),
            str(tmp_path / "SMPL_SUBDIV_TRANSFORM.mat"),
            str(tmp_path / "missing.pkl"),
        )
