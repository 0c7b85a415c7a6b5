"""DensePose evaluation offline: GPS / GPSm AP (COCO-style matching with the geodesic point
similarity in place of IoU), plus quick per-point metrics.

GPS of a detection and a GT person: the mean over the GT points of
``exp(-g² / (2 κ²))``, where ``g`` is the geodesic distance on the body surface between the GT
point's (I, U, V) and the prediction's (I, U, V) at the same image pixel, ``κ`` the
normalisation of the GT point's part; a point outside the detection or predicted as background
scores 0. GPSm = sqrt(GPS × IoU of the predicted and GT body masks). AP over thresholds
0.50:0.05:0.95 with up to 20 detections per image and areas all / medium / large (the COCO
keypoint protocol), matched as DensePose's ``DensePoseCocoEval`` matches (see
:meth:`_GPSEval.evaluateImg`: an image without a regular person ignores all its detections, and
a second pass at the last threshold gives a detection overlapping a person by box IoU >= 0.8
that person's ignore flag at every threshold). The geodesics come from a provider:
:class:`PlanarChartGeodesics` is exact for ``vp_densepose`` (a flat chart); real DensePose-COCO
uses :class:`SMPLGeodesics` on DensePose's SMPL files, given by local path (never downloaded).
"""

import copy
import itertools
import logging
import os
import pickle
from collections import OrderedDict

import numpy as np
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm
from detectron2.utils.registry import Registry
from pycocotools import mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from scipy.io import loadmat
from scipy.ndimage import zoom
from scipy.spatial.distance import cdist

from ..data.densepose import decode_dp_masks
from ..data.synthetic.densepose import KAPPA, chart_to_template
from ..layers.paste import clip_window
from .densepose_results import densepose_masks, densepose_to_iuv

__all__ = [
    "PlanarChartGeodesics",
    "SMPLGeodesics",
    "gps_score",
    "predicted_at_points",
    "quantize_iuv",
    "gt_body_mask",
    "DensePoseGPSEvaluator",
    "GEODESICS_PROVIDERS",
    "geodesics_for",
]

logger = logging.getLogger(__name__)

# metadata ``densepose_geodesics`` name -> provider factory ``metadata -> geodesics``
GEODESICS_PROVIDERS = Registry("VP_DENSEPOSE_GEODESICS")


class PlanarChartGeodesics:
    """Geodesics of a flat chart: ``to_sheet(I, U, V) -> (x, y)`` positions on the sheet;
    distance = Euclidean distance there; ``kappa`` per fine part (scalar or array indexed by I)."""

    def __init__(self, to_sheet, kappa):
        self.to_sheet = to_sheet
        self.kappa_values = kappa

    def distance(self, i1, u1, v1, i2, u2, v2) -> np.ndarray:
        x1, y1 = self.to_sheet(i1, u1, v1)
        x2, y2 = self.to_sheet(i2, u2, v2)
        return np.hypot(np.asarray(x1) - x2, np.asarray(y1) - y2)

    def kappa(self, i) -> np.ndarray:
        k = np.asarray(self.kappa_values, dtype=np.float64)
        return np.full(np.shape(i), float(k)) if k.ndim == 0 else k[np.asarray(i)]


def quantize_iuv(iuv) -> np.ndarray:
    """uint8 3×h×w: I, then U, V × 255 clamped and truncated (DensePose's stored results)."""
    iuv = torch.as_tensor(iuv)
    out = torch.empty(iuv.shape, dtype=torch.uint8)
    out[0] = iuv[0].to(torch.uint8)
    out[1:] = (iuv[1:] * 255).clamp(0, 255).to(torch.uint8)
    return out.numpy()


def predicted_at_points(ann, iuv: np.ndarray, det_box):
    """``(inside, pred)`` of GT ``ann``'s points on a detection, as DensePose's evaluator reads
    them: ``iuv`` is the quantized uint8 result (3 × int(h) × int(w)), ``det_box`` the float XYWH
    detection box; a point maps to ``trunc(dp / 255 × gt size + gt origin − det origin)`` (the
    evaluator's /255, where training uses /256). ``pred`` (3 × points: I, U, V with U, V / 255)
    is 0 outside the array."""
    gx, gy, gw, gh = ann["bbox"]
    px = (np.asarray(ann["dp_x"], np.float64) * gw / 255.0 + gx - det_box[0]).astype(int)
    py = (np.asarray(ann["dp_y"], np.float64) * gh / 255.0 + gy - det_box[1]).astype(int)
    h, w = iuv.shape[1:]
    inside = (px >= 0) & (px < w) & (py >= 0) & (py < h)
    pred = np.zeros((3, len(px)))
    pred[:, inside] = iuv[:, py[inside], px[inside]]
    pred[1:] /= 255.0
    return inside, pred


def gps_score(ann, iuv: np.ndarray, det_box, geodesics) -> float:
    """GPS of a detection for GT ``ann`` (points read by :func:`predicted_at_points`); points
    outside the detection or predicted as background score 0 and stay in the mean."""
    inside, pred = predicted_at_points(ann, iuv, det_box)
    if not inside.any():
        return 0.0
    pi = pred[0].astype(int)
    i = np.asarray(ann["dp_I"], int)
    u, v = np.asarray(ann["dp_U"], np.float64), np.asarray(ann["dp_V"], np.float64)
    scores = np.zeros(len(pi))
    fg = pi > 0
    if fg.any():
        g = geodesics.distance(i[fg], u[fg], v[fg], pi[fg], pred[1, fg], pred[2, fg])
        scores[fg] = np.exp(-(g**2) / (2 * geodesics.kappa(i[fg]) ** 2))
    return float(scores.mean())


def gt_body_mask(ann, height: int, width: int) -> np.ndarray:
    """The GT body mask in the image, as DensePose's evaluator builds it: the part map of
    ``dp_masks`` (256² over the GT box) > 0, zoomed bilinearly to the box size, > 0.5, pasted at
    ``(int(x), int(y))`` and cut at ``int(x + w)``, ``int(y + h)`` (the zoomed map can be a pixel
    larger than that for fractional boxes); without ``dp_masks`` the COCO segmentation (empty
    when there is none)."""
    mask = np.zeros((height, width), bool)
    if "dp_masks" not in ann:
        segm = ann.get("segmentation")
        if not segm:
            return mask
        rles = mask_util.frPyObjects(segm, height, width)
        rle = mask_util.merge(rles) if isinstance(rles, list) else rles
        return mask_util.decode(rle).astype(bool)
    grid = (decode_dp_masks(ann["dp_masks"]).numpy() > 0).astype(np.float64)
    x, y, w, h = ann["bbox"]
    body = zoom(grid, (max(h, 1) / 256, max(w, 1) / 256), order=1, prefilter=False) > 0.5
    x0, y0 = int(x), int(y)
    bw, bh = min(body.shape[1], int(x + w) - x0), min(body.shape[0], int(y + h) - y0)
    window = clip_window(x0, y0, bw, bh, width, height)
    if window is not None:
        mask[window[0]] = body[window[1]]
    return mask


class _GPSEval(COCOeval):
    """COCOeval (keypoint protocol: 20 detections, areas all / medium / large) whose similarity
    is GPS or GPSm, with DensePose's own matching (:meth:`evaluateImg`)."""

    def __init__(self, coco_gt, coco_dt, predictions, geodesics, use_mask):
        super().__init__(coco_gt, coco_dt, "keypoints")
        self.predictions, self.geodesics, self.use_mask = predictions, geodesics, use_mask

    def _prepare(self):
        super()._prepare()
        # DensePose ignores exactly the persons without DensePose points (crowd or not)
        for gts in self._gts.values():
            for g in gts:
                g["ignore"] = int("dp_x" not in g)

    def computeOks(self, imgId, catId):
        """``(similarities, box IoUs)`` of the image's top-scoring detections (rows, by score)
        and its persons, or ``[]`` without either; persons without points have similarity 0."""
        gts, dts = self._gts[imgId, catId], self._dts[imgId, catId]
        order = np.argsort([-d["score"] for d in dts], kind="mergesort")
        dts = [dts[k] for k in order][: self.params.maxDets[-1]]
        if not gts or not dts:
            return []
        img = self.cocoGt.imgs[imgId]
        sims = np.zeros((len(dts), len(gts)))
        for j, g in enumerate(gts):
            if g["ignore"]:
                continue
            gmask = gt_body_mask(g, img["height"], img["width"]) if self.use_mask else None
            for k, d in enumerate(dts):
                pred = self.predictions[d["pred_index"]]
                gps = gps_score(g, pred["iuv"], d["bbox"], self.geodesics)
                if self.use_mask:
                    pmask = pred["mask"]
                    union = (pmask | gmask).sum()
                    gps = np.sqrt(gps * ((pmask & gmask).sum() / union if union else 0.0))
                sims[k, j] = gps
        crowd = [int(g.get("iscrowd", 0)) for g in gts]
        box_ious = mask_util.iou([d["bbox"] for d in dts], [g["bbox"] for g in gts], crowd)
        return sims, np.asarray(box_ious, dtype=np.float64).reshape(len(dts), len(gts))

    def evaluateImg(self, imgId, catId, aRng, maxDet):
        """One image and area range, matched as DensePose's ``DensePoseCocoEval`` does:

        1. persons ignored (no DensePose points, or area outside ``aRng``) are sorted last; when
           every person of the image is ignored (or it has none) every detection is ignored;
        2. COCO's greedy matching at each threshold (a detection matched to an ignored person is
           ignored; once matched to a regular person it does not move to an ignored one);
        3. a second pass at the **last** threshold: a detection still unmatched there takes the
           person with the highest box IoU >= 0.8 among those unmatched there (ties: the later
           one in the sorted order) and gets that person's ignore flag at **every** threshold;
           if that person is ignored, both count as matched at the last threshold;
        4. detections unmatched (per threshold) with a box area outside ``aRng`` are ignored.
        """
        gts, dts = self._gts[imgId, catId], self._dts[imgId, catId]
        if not gts and not dts:
            return None
        lo, hi = aRng
        ignored = [bool(g["ignore"]) or g["area"] < lo or g["area"] > hi for g in gts]
        g_order = np.argsort(ignored, kind="mergesort")
        gts = [gts[k] for k in g_order]
        gt_ig = np.asarray(ignored, dtype=bool)[g_order]
        d_order = np.argsort([-d["score"] for d in dts], kind="mergesort")[:maxDet]
        dts = [dts[k] for k in d_order]
        crowd = [int(g.get("iscrowd", 0)) for g in gts]
        thresholds = self.params.iouThrs
        T, G, D = len(thresholds), len(gts), len(dts)
        gtm, dtm = np.zeros((T, G)), np.zeros((T, D))
        dt_ig = np.full((T, D), bool(gt_ig.all()))  # no regular person: nothing counts
        pair = self.ious[imgId, catId]
        if len(pair):
            sims, box_ious = pair[0][:D, g_order], pair[1][:D, g_order]
            for t, thr in enumerate(thresholds):
                for k in range(D):
                    best, m = min(thr, 1 - 1e-10), -1
                    for j in range(G):
                        if gtm[t, j] > 0 and not crowd[j]:
                            continue
                        if m > -1 and not gt_ig[m] and gt_ig[j]:
                            break
                        if sims[k, j] < best or sims[k, j] == 0.0:
                            continue
                        best, m = sims[k, j], j
                    if m > -1:
                        dt_ig[t, k] = gt_ig[m]
                        dtm[t, k] = gts[m]["id"]
                        gtm[t, m] = dts[k]["id"]
            last = T - 1
            for k in range(D):
                if dtm[last, k] != 0:
                    continue
                best, m = 0.8, -1
                for j in range(G):
                    if gtm[last, j] > 0 and not crowd[j]:
                        continue
                    if box_ious[k, j] >= best:
                        best, m = box_ious[k, j], j
                if m > -1:
                    dt_ig[:, k] = gt_ig[m]
                    if gt_ig[m]:
                        dtm[last, k] = gts[m]["id"]
                        gtm[last, m] = dts[k]["id"]
        outside = np.array([d["area"] < lo or d["area"] > hi for d in dts], dtype=bool)
        dt_ig |= (dtm == 0) & outside[None, :]
        return {
            "image_id": imgId,
            "category_id": catId,
            "aRng": aRng,
            "maxDet": maxDet,
            "dtIds": [d["id"] for d in dts],
            "gtIds": [g["id"] for g in gts],
            "dtMatches": dtm,
            "gtMatches": gtm,
            "dtScores": [d["score"] for d in dts],
            "gtIgnore": gt_ig,
            "dtIgnore": dt_ig,
        }


# DensePose-COCO: GPS normalisation per coarse group of the GT part (upstream's evaluator)
SMPL_COARSE_PARTS = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7, 8, 8]
SMPL_MEAN_DISTANCES = [0, 0.351, 0.107, 0.126, 0.237, 0.173, 0.142, 0.128, 0.150]


class SMPLGeodesics:
    """Geodesics on the SMPL surface from DensePose's files, read from local paths:
    ``SMPL_subdiv.mat`` (``U_subdiv``, ``V_subdiv``, ``Part_ID_subdiv`` of the subdivided mesh's
    vertices), ``SMPL_SUBDIV_TRANSFORM.mat`` (``index``: subdivided vertex -> 1-based vertex of
    the distance table) and ``Pdist_matrix.pkl`` (``Pdist_matrix``: the packed lower triangle,
    row ``hi (hi - 1) / 2 + lo`` for 0-based vertices ``lo < hi``).

    A chart point maps to the vertex of its part nearest in (U, V); two points on the same
    vertex are at distance 0, a point without a vertex (background) at infinity."""

    def __init__(self, smpl_subdiv: str, subdiv_transform: str, pdist_matrix: str):
        for path in (smpl_subdiv, subdiv_transform, pdist_matrix):
            if not path or not os.path.isfile(path):
                raise FileNotFoundError(
                    f"SMPL geodesics file not found: {path!r} (DensePose's SMPL_subdiv.mat, "
                    "SMPL_SUBDIV_TRANSFORM.mat and Pdist_matrix.pkl, given by local path)"
                )
        subdiv = loadmat(smpl_subdiv)
        uv = np.stack([np.ravel(subdiv["U_subdiv"]), np.ravel(subdiv["V_subdiv"])], axis=1)
        parts = np.ravel(subdiv["Part_ID_subdiv"]).astype(int)
        ids = np.arange(len(parts)) + 1
        self.part_uv = {p: uv[parts == p] for p in range(1, 25)}
        self.part_ids = {p: ids[parts == p] for p in range(1, 25)}
        self.transform = np.ravel(loadmat(subdiv_transform)["index"]).astype(np.int64)
        with open(pdist_matrix, "rb") as f:
            self.pdist = np.ravel(pickle.load(f, encoding="latin1")["Pdist_matrix"])

    def vertices(self, i, u, v) -> np.ndarray:
        """1-based distance-table vertex of each chart point (0 for background)."""
        out = np.zeros(len(i), np.int64)
        for p in np.unique(i):
            if p <= 0 or len(self.part_uv.get(int(p), ())) == 0:
                continue
            sel = i == p
            d = cdist(np.stack([u[sel], v[sel]], axis=1), self.part_uv[int(p)])
            out[sel] = self.transform[self.part_ids[int(p)][d.argmin(axis=1)] - 1]
        return out

    def distance(self, i1, u1, v1, i2, u2, v2) -> np.ndarray:
        a = self.vertices(np.asarray(i1), np.asarray(u1), np.asarray(v1)) - 1
        b = self.vertices(np.asarray(i2), np.asarray(u2), np.asarray(v2)) - 1
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        dist = np.full(len(a), np.inf)
        same = (a == b) & (a >= 0)
        dist[same] = 0
        other = (lo >= 0) & (a != b)
        dist[other] = self.pdist[hi[other] * (hi[other] - 1) // 2 + lo[other]]
        return dist

    def kappa(self, i) -> np.ndarray:
        return np.asarray(SMPL_MEAN_DISTANCES)[np.asarray(SMPL_COARSE_PARTS)[np.asarray(i)]]


@GEODESICS_PROVIDERS.register()
def vp_planar_chart(meta):
    """The synthetic vp_densepose chart (exact geodesics)."""
    return PlanarChartGeodesics(chart_to_template, KAPPA)


@GEODESICS_PROVIDERS.register()
def smpl(meta):
    """SMPL geodesics from the local files named in the metadata."""
    return SMPLGeodesics(
        meta.get("densepose_smpl_subdiv"),
        meta.get("densepose_smpl_subdiv_transform"),
        meta.get("densepose_pdist_matrix"),
    )


class DensePoseGPSEvaluator(DatasetEvaluator):
    """GPS AP, GPSm AP and per-point metrics on a DensePose-COCO dataset.

    ``geodesics``: a provider with ``distance(I1, U1, V1, I2, U2, V2)`` and ``kappa(I)``.
    Per-point metrics (``part_accuracy``, ``uv_error``): each annotated GT person is matched to
    the best-scoring detection with box IoU >= 0.5; over its points, the fraction whose
    predicted part equals the GT part (background or outside the box = wrong) and the mean
    ``|ΔU| + |ΔV|`` over the points with the right part.
    """

    def __init__(self, dataset_name: str, geodesics, distributed: bool = True):
        self._meta = MetadataCatalog.get(dataset_name)
        if "thing_dataset_id_to_contiguous_id" not in self._meta.as_dict():
            DatasetCatalog.get(dataset_name)  # the loader sets the category mapping
        self._coco = COCO(self._meta.json_file)
        self._geodesics = geodesics
        self._distributed = distributed
        contiguous = self._meta.thing_dataset_id_to_contiguous_id
        self._to_dataset_id = {v: k for k, v in contiguous.items()}

    def reset(self):
        self._predictions = []

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            inst = out["instances"].to("cpu")
            if not inst.has("pred_densepose") or len(inst) == 0:
                continue
            boxes = inst.pred_boxes.tensor
            iuv = densepose_to_iuv(inst.pred_densepose, boxes)
            masks = densepose_masks(iuv, boxes, *inst.image_size)
            for k in range(len(inst)):
                x0, y0, x1, y1 = boxes[k].tolist()
                self._predictions.append(
                    {
                        "image_id": inp["image_id"],
                        "category_id": self._to_dataset_id[int(inst.pred_classes[k])],
                        "score": float(inst.scores[k]),
                        "bbox": [x0, y0, x1 - x0, y1 - y0],
                        "iuv": quantize_iuv(iuv[k]),
                        "mask": masks[k].numpy(),
                    }
                )

    def evaluate(self):
        predictions = self._predictions
        if self._distributed:
            comm.synchronize()
            predictions = list(itertools.chain(*comm.gather(predictions, dst=0)))
            if not comm.is_main_process():
                return {}
        results = OrderedDict()
        if not predictions:
            logger.warning("DensePoseGPSEvaluator: no predictions with pred_densepose")
            return {"densepose_gps": {"AP": 0.0}, "densepose_gpsm": {"AP": 0.0}}
        dts = [
            {k: p[k] for k in ("image_id", "category_id", "score", "bbox")} | {"pred_index": n}
            for n, p in enumerate(predictions)
        ]
        coco_gt = copy.copy(self._coco)
        for ann in coco_gt.dataset["annotations"]:
            ann["num_keypoints"] = len(ann.get("dp_x", ()))  # for COCOeval's _prepare
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dts)
        for name, use_mask in (("densepose_gps", False), ("densepose_gpsm", True)):
            ev = _GPSEval(coco_gt, coco_dt, predictions, self._geodesics, use_mask)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            keys = ["AP", "AP50", "AP75", "APm", "APl"]
            results[name] = {k: float(100 * s) for k, s in zip(keys, ev.stats[:5])}
        results["densepose_points"] = self._point_metrics(coco_gt, predictions)
        return results

    def _point_metrics(self, coco_gt, predictions):
        by_image = {}
        for p in predictions:
            by_image.setdefault(p["image_id"], []).append(p)
        correct = total = 0
        uv_err = []
        for ann in coco_gt.dataset["annotations"]:
            if not ann.get("dp_x"):
                continue
            i = np.asarray(ann["dp_I"], int)
            u, v = np.asarray(ann["dp_U"]), np.asarray(ann["dp_V"])
            total += len(i)
            cands = sorted(by_image.get(ann["image_id"], []), key=lambda p: -p["score"])
            match = None
            for p in cands:
                if mask_util.iou([p["bbox"]], [ann["bbox"]], [0])[0, 0] >= 0.5:
                    match = p
                    break
            if match is None:
                continue
            _, pred = predicted_at_points(ann, match["iuv"], match["bbox"])
            right = pred[0].astype(int) == i
            correct += int(right.sum())
            uv_err.extend((np.abs(pred[1] - u) + np.abs(pred[2] - v))[right].tolist())
        return {
            "part_accuracy": 100.0 * correct / max(total, 1),
            "uv_error": float(np.mean(uv_err)) if uv_err else float("nan"),
        }


def geodesics_for(dataset_name: str):
    """The geodesic provider named by the dataset's ``densepose_geodesics`` metadata."""
    meta = MetadataCatalog.get(dataset_name)
    name = meta.get("densepose_geodesics")
    if name not in GEODESICS_PROVIDERS:
        raise KeyError(
            f"dataset {dataset_name!r} has densepose_geodesics={name!r}; GPS needs one of "
            f"{GEODESICS_PROVIDERS.names()}"
        )
    return GEODESICS_PROVIDERS.get(name)(meta)
