"""``CornerNet`` (Law & Deng, ECCV 2018; princeton-vl/CornerNet @e5c39a3) and
``CenterNetTriplet`` (CenterNet: keypoint triplets, Duan et al., ICCV 2019; Duankaiwen/CenterNet
@3ad3a10).

CornerNet represents a box by its top-left and bottom-right corners: per stack, corner pooling
modules feed, for each corner type, a per-class heatmap, a 1-D embedding ("tag": the two corners
of one object get close tags) and a sub-pixel offset. Detections pair the top-K corners of each
type: same class, tags closer than AE_THRESHOLD, bottom-right below and right of top-left.
CenterNet-Triplet adds a third keypoint, the centre (centre pooling, heatmap and offset heads),
uses cascade corner pooling, and keeps a box only if a same-class centre keypoint falls in its
central region.

Parameter names follow the official checkpoints (``tl_cnvs``, ``tl_heats``, ``tl_tags``,
``tl_regrs``, ..., ``ct_cnvs``, ``ct_heats``, ``ct_regrs``; the hourglass under ``backbone``).
"""

import numpy as np
import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, Instances
from torch import nn

from ..layers import ImagePreprocessor
from ..layers.center_heatmaps import (
    ae_pull_push_loss,
    gather_at,
    heatmap_focal_loss,
    offset_smooth_l1_loss,
)
from ..layers.corner_pool import CenterPoolModule, CornerPoolModule, KPHead
from .postprocess import center_region_check, corner_decode, official_canvas, per_class_soft_nms
from .targets import batch_targets, corner_targets

__all__ = ["CenterNetTriplet", "CornerNet"]


def _keypoint_heads(n, dim, mid, out, bias=None):
    return nn.ModuleList([KPHead(dim, mid, out, bias) for _ in range(n)])


@META_ARCH_REGISTRY.register()
class CornerNet(ImagePreprocessor):
    """Training (``batched_inputs`` with ``instances``): ``loss_focal``, ``loss_pull``,
    ``loss_push``, ``loss_off``, each summed over the stacks and divided by their number.
    Inference: ``Instances`` with ``pred_boxes``, ``scores``, ``pred_classes`` after the official
    test pipeline (flip, scales, soft-NMS; see ``MODEL.CORNERNET``)."""

    center = False  # CenterNet-Triplet: centre keypoints

    @configurable
    def __init__(self, *, backbone, num_classes, pixel_mean, pixel_std, cascade=False,
                 pool_dim=128, heat_bias=-2.19, top_k=100, nms_kernel=3, ae_threshold=0.5,
                 num_dets=1000, pull_weight=0.1, push_weight=0.1, off_weight=1.0, gaussian_iou=0.3,
                 legacy_radius=False, center_sigma_div=5.0, flip_test=True, test_scales=(1.0,),
                 soft_nms=None, max_per_image=100, small_area=22500.0,
                 region_n=(3, 5)):  # fmt: skip
        super().__init__()
        self.backbone = backbone
        self.stacks = backbone._out_features
        n = len(self.stacks)
        dim = backbone.output_shape()[self.stacks[-1]].channels
        mid = getattr(backbone, "hourglass_dim", dim)
        self.tl_cnvs = nn.ModuleList([CornerPoolModule(dim, "tl", cascade, pool_dim)
                                      for _ in range(n)])  # fmt: skip
        self.br_cnvs = nn.ModuleList([CornerPoolModule(dim, "br", cascade, pool_dim)
                                      for _ in range(n)])  # fmt: skip
        self.tl_heats = _keypoint_heads(n, dim, mid, num_classes, heat_bias)
        self.br_heats = _keypoint_heads(n, dim, mid, num_classes, heat_bias)
        self.tl_tags = _keypoint_heads(n, dim, mid, 1)
        self.br_tags = _keypoint_heads(n, dim, mid, 1)
        self.tl_regrs = _keypoint_heads(n, dim, mid, 2)
        self.br_regrs = _keypoint_heads(n, dim, mid, 2)
        if self.center:
            self.ct_cnvs = nn.ModuleList([CenterPoolModule(dim, pool_dim) for _ in range(n)])
            self.ct_heats = _keypoint_heads(n, dim, mid, num_classes, heat_bias)
            self.ct_regrs = _keypoint_heads(n, dim, mid, 2)
        self.num_classes = num_classes
        self.decode_args = {"k": top_k, "kernel": nms_kernel, "ae_threshold": ae_threshold,
                            "num_dets": num_dets}  # fmt: skip
        self.weights = {"pull": pull_weight, "push": push_weight, "off": off_weight}
        self.target_args = {"gaussian_iou": gaussian_iou, "legacy": legacy_radius,
                            "center": self.center,
                            "center_sigma_div": center_sigma_div}  # fmt: skip
        self.flip_test, self.test_scales = flip_test, tuple(test_scales)
        self.soft_nms = dict(soft_nms or {})
        self.max_per_image = max_per_image
        self.region = {"small_area": small_area, "region_n": tuple(region_n)}
        self.register_pixel_stats(pixel_mean, pixel_std)

    @classmethod
    def from_config(cls, cfg):
        c = cfg.MODEL.CORNERNET
        s = c.SOFT_NMS
        args = {
            "backbone": build_backbone(cfg),
            "num_classes": c.NUM_CLASSES,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "pool_dim": c.POOL_DIM,
            "heat_bias": c.HEAT_BIAS,
            "top_k": c.TOP_K,
            "nms_kernel": c.NMS_KERNEL,
            "ae_threshold": c.AE_THRESHOLD,
            "num_dets": c.NUM_DETS,
            "pull_weight": c.PULL_WEIGHT,
            "push_weight": c.PUSH_WEIGHT,
            "off_weight": c.OFF_WEIGHT,
            "gaussian_iou": c.GAUSSIAN_IOU,
            "legacy_radius": _legacy(c.RADIUS_FORMULA, "MODEL.CORNERNET.RADIUS_FORMULA"),
            "flip_test": c.FLIP_TEST,
            "test_scales": c.TEST_SCALES,
            "soft_nms": {
                "method": s.METHOD,
                "sigma": s.SIGMA,
                "nt": s.NT,
                "threshold": s.THRESH,
                "keep_stale_rows": s.KEEP_STALE_ROWS,
                "merge_weight_exp": s.WEIGHT_EXP if s.MERGE_BBOX else None,
            },
            "max_per_image": c.MAX_PER_IMAGE,
        }
        if cls.center:
            t = cfg.MODEL.CENTERNET_TRIPLET
            args.update({
                "cascade": t.CASCADE,
                "center_sigma_div": t.CENTER_SIGMA_DIV,
                "small_area": t.SMALL_AREA,
                "region_n": t.REGION_N,
            })  # fmt: skip
        return args

    # ------------------------------------------------------------------ network
    def forward_heads(self, images: torch.Tensor, stacks=None):
        """Raw head outputs of the requested stacks (default: the last one, as official
        inference; training uses all): a list, per stack, of dicts with ``tl_heat``, ``br_heat``
        (logits), ``tl_tag``, ``br_tag``, ``tl_regr``, ``br_regr`` [, ``ct_heat``, ``ct_regr``]."""
        feats = self.backbone(images)
        stacks = [len(self.stacks) - 1] if stacks is None else stacks
        outs = []
        for s in stacks:
            x = feats[self.stacks[s]]
            tl, br = self.tl_cnvs[s](x), self.br_cnvs[s](x)
            out = {"tl_heat": self.tl_heats[s](tl), "br_heat": self.br_heats[s](br),
                   "tl_tag": self.tl_tags[s](tl), "br_tag": self.br_tags[s](br),
                   "tl_regr": self.tl_regrs[s](tl), "br_regr": self.br_regrs[s](br)}  # fmt: skip
            if self.center:
                ct = self.ct_cnvs[s](x)
                out["ct_heat"], out["ct_regr"] = self.ct_heats[s](ct), self.ct_regrs[s](ct)
            outs.append(out)
        return outs

    def decode(self, out):
        """``corner_decode`` of one stack's raw outputs: ``(detections, centres or None)`` in
        output-map pixels."""
        return corner_decode(
            out["tl_heat"].sigmoid(), out["br_heat"].sigmoid(), out["tl_tag"], out["br_tag"],
            out["tl_regr"], out["br_regr"],
            out["ct_heat"].sigmoid() if self.center else None, out.get("ct_regr"),
            **self.decode_args,
        )  # fmt: skip

    @property
    def map_names(self):
        """The raw last-stack maps :meth:`detect` returns, in order."""
        maps = ("tl_heat", "br_heat", "tl_tag", "br_tag", "tl_regr", "br_regr")
        return maps + (("ct_heat", "ct_regr") if self.center else ())

    def detect(self, inp):
        """The exportable part of inference on one normalised test canvas ``inp`` (1, 3, H, W):
        flip-test batch and network (last stack). Returns its raw maps (``map_names``: heat
        logits, tags, offsets), each (F, C, H / 4, W / 4), F = 2 with FLIP_TEST, else 1."""
        if self.flip_test:
            inp = torch.cat([inp, inp.flip(-1)])
        out = self.forward_heads(inp)[0]
        return tuple(out[k] for k in self.map_names)

    def rows(self, maps, canvas_hw):
        """The decisions after :meth:`detect` (never in an exported graph: every backend decides
        here on its own maps; heatmap peaks, top-K cuts and corner matching of near-tied values
        are decided otherwise by another runtime's rounding): ``corner_decode`` (heatmap NMS by
        max-pool, top-K, corner matching), flipped rows mirrored back, coordinates from
        output-map to canvas pixels (``canvas_hw``: the canvas H, W). Returns ``rows`` (F, R, 8):
        the NUM_DETS detections ``[x1, y1, x2, y2, score, s_tl, s_br, class]`` best first
        (rejected pairs score -1), then, for CenterNet-Triplet, the K centre keypoints as rows
        ``[x, y, x, y, score, 0, 0, class]``."""
        out = dict(zip(self.map_names, maps))
        dets, centres = self.decode(out)
        out_h, out_w = out["tl_heat"].shape[-2:]
        rx, ry = out_w / canvas_hw[1], out_h / canvas_hw[0]
        rows = [dets]
        if self.center:
            x, y, c, s = centres.unbind(-1)
            zero = torch.zeros_like(s)
            rows.append(torch.stack([x, y, x, y, s, zero, zero, c], -1))
        rows = torch.cat(rows, 1)
        if self.flip_test:  # mirrored rows: x -> out_w - x, corners swapped
            r = rows[1:]
            r = torch.cat([out_w - r[..., 2:3], r[..., 1:2], out_w - r[..., 0:1], r[..., 3:]], -1)
            rows = torch.cat([rows[:1], r])
        return torch.cat([rows[..., 0:1] / rx, rows[..., 1:2] / ry, rows[..., 2:3] / rx,
                          rows[..., 3:4] / ry, rows[..., 4:]], -1)  # fmt: skip

    def forward(self, batched_inputs):
        if self.training:
            return self.losses(batched_inputs)
        return [self.inference_single(x) for x in batched_inputs]

    # ------------------------------------------------------------------ training
    def losses(self, batched_inputs):
        # bottom-right padding with zero pixels (normalised after, as the official zero borders)
        batch = self.preprocess_image(
            batched_inputs, self.backbone.size_divisibility, normalize_padding=True
        ).tensor
        h, w = batch.shape[-2:]
        outs = self.forward_heads(batch, stacks=range(len(self.stacks)))
        out_hw = tuple(outs[0]["tl_heat"].shape[-2:])
        targets = []
        for x in batched_inputs:
            inst = x["instances"]
            targets.append(corner_targets(
                inst.gt_boxes.tensor.cpu().numpy(), inst.gt_classes.cpu().numpy(),
                self.num_classes, (h, w), out_hw, **self.target_args))  # fmt: skip
        t = batch_targets(targets, self.device)
        kinds = ("tl", "br", "ct") if self.center else ("tl", "br")
        # (row, column) of every object's keypoints, from the flat indices
        pos = {k: (t[k + "_ind"] // out_hw[1], t[k + "_ind"] % out_hw[1]) for k in kinds}
        focal = pull = push = off = 0
        for out in outs:
            for k in kinds:
                pred = out[k + "_heat"].sigmoid().clamp(1e-4, 1 - 1e-4)
                focal = focal + heatmap_focal_loss(pred, t[k + "_heat"])
                regr = gather_at(out[k + "_regr"], *pos[k])
                off = off + offset_smooth_l1_loss(regr, t[k + "_off"], t["mask"])
            tl_tag = gather_at(out["tl_tag"], *pos["tl"])[..., 0]
            br_tag = gather_at(out["br_tag"], *pos["br"])[..., 0]
            pl, ps = ae_pull_push_loss(tl_tag, br_tag, t["mask"])
            pull, push = pull + pl, push + ps
        n = len(outs)
        return {
            "loss_focal": focal / n,
            "loss_pull": self.weights["pull"] * pull / n,
            "loss_push": self.weights["push"] * push / n,
            "loss_off": self.weights["off"] * off / n,
        }

    # ------------------------------------------------------------------ inference
    def _network_input(self, image, scale):
        """The official test input at ``scale``: the image resized (bilinear), centred on a
        (h | 127) x (w | 127) canvas of zero pixels, normalised. Returns ``(input (1, 3, H, W),
        (top, left) border, resized (h, w))``."""
        h, w = image.shape[-2:]
        nh, nw = int(h * scale), int(w * scale)
        if (nh, nw) != (h, w):
            image = F.interpolate(image[None], (nh, nw), mode="bilinear", align_corners=False)[0]
        (ch, cw), (top, left), (rows, cols) = official_canvas(nh, nw)
        canvas = image.new_zeros(3, ch, cw)
        canvas[:, top : top + rows, left : left + cols] = image[:, :rows, :cols]
        return self.normalize(canvas)[None], (top, left), (nh, nw)

    def inference_single(self, x, run=None):
        """Official test pipeline on one image (``x["image"]``, CHW in INPUT.FORMAT): per test
        scale the canvas (``_network_input``), :meth:`detect` — or ``run("model", canvas)``, an
        exported graph of it — and :meth:`rows`, then :meth:`postprocess`."""
        image = self.load_image(x)
        per_scale = []
        for scale in self.test_scales:
            inp, border, size = self._network_input(image, scale)
            maps = self.detect(inp) if run is None else run("model", inp)
            per_scale.append((scale, border, size, self.rows(maps, inp.shape[-2:])))
        return self.postprocess(per_scale, x, image.shape[-2:])

    def postprocess(self, per_scale, x, image_size):
        """What follows :meth:`rows` (numpy, the same for every backend): per scale, rows best
        first per flip, canvas border removed and clipped to the resized image, / scale; valid
        rows; CenterNet-Triplet's centre-region check (centres of scale 1); per-class soft-NMS;
        ``Instances`` at the input's height / width."""
        h, w = image_size
        all_dets, all_centres = [], []
        num_dets = min(self.decode_args["num_dets"], self.decode_args["k"] ** 2)
        for scale, (top, left), (nh, nw), rows in per_scale:
            dets = _best_first(rows[:, :num_dets], 4).reshape(-1, 8)
            dets = _rescale(dets, left, top, nw, nh)
            dets[:, :4] /= scale
            all_dets.append(dets)
            if self.center and scale == 1:
                centres = _best_first(rows[:, num_dets:], 4)[..., [0, 1, 7, 4]].reshape(-1, 4)
                all_centres.append(_rescale(centres, left, top, nw, nh, 1))
        dets = np.concatenate(all_dets)
        dets = dets[dets[:, 4] > -1]
        if self.center:
            if not all_centres:
                raise ValueError("CenterNetTriplet: TEST_SCALES must contain 1 (the centre "
                                 "keypoints come from scale 1, as officially)")  # fmt: skip
            dets = center_region_check(dets, np.concatenate(all_centres), **self.region)
            dets = dets[np.argsort(-dets[:, 4], kind="stable")]
            dets = dets[dets[:, 4] > -1]
        boxes, scores, classes = per_class_soft_nms(
            dets, self.num_classes, max_per_image=self.max_per_image, **self.soft_nms
        )
        result = Instances((h, w))
        result.pred_boxes = Boxes(torch.as_tensor(boxes, device=self.device))
        result.scores = torch.as_tensor(scores, device=self.device)
        result.pred_classes = torch.as_tensor(classes, device=self.device)
        return {"instances": detector_postprocess(result, x.get("height", h), x.get("width", w))}


def _best_first(rows, score_col):
    """(F, R, C) rows of each flip sorted by score, descending (stable), as a numpy copy."""
    rows = np.array(torch.as_tensor(rows).cpu().numpy(), dtype=np.float32)
    order = np.argsort(-rows[..., score_col], axis=1, kind="stable")
    return np.take_along_axis(rows, order[..., None], 1)


def _rescale(rows, left, top, w, h, num_points=2):
    """Official ``_rescale_dets`` after the division by the output ratio (in :meth:`detect`):
    canvas pixels minus the canvas border, clipped to [0, size]; on the first ``num_points``
    (x, y) column pairs."""
    for p in range(num_points):
        xs, ys = 2 * p, 2 * p + 1
        rows[:, xs] = np.clip(rows[:, xs] - left, 0, w)
        rows[:, ys] = np.clip(rows[:, ys] - top, 0, h)
    return rows


def _legacy(formula, key):
    if formula not in ("cornernet", "legacy"):
        raise ValueError(f"{key} must be 'cornernet' or 'legacy', got {formula!r}")
    return formula == "legacy"


@META_ARCH_REGISTRY.register()
class CenterNetTriplet(CornerNet):
    """CornerNet + centre keypoints (``ct_cnvs``, ``ct_heats``, ``ct_regrs``), cascade corner
    pooling, centre-region check at test time; training adds the centre focal and offset
    losses. Reads every ``MODEL.CORNERNET`` key, plus the triplet-only ``MODEL.CENTERNET_TRIPLET``
    ones (official values: ``configs/CornerNet/Base-CenterNetTriplet.yaml``)."""

    center = True
