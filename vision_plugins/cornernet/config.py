"""``add_cornernet_config``: ``MODEL.HOURGLASS`` (the backbone), ``MODEL.CORNERNET`` and
``MODEL.CENTERNET_TRIPLET``, ``INPUT.CORNERNET`` (defaults: princeton-vl/CornerNet @e5c39a3
``config/CornerNet.json`` + ``db/detection.py`` + ``db/coco.py``, Duankaiwen/CenterNet @3ad3a10
``config/CenterNet-104.json``)."""

from detectron2.config import CfgNode as CN

__all__ = ["add_cornernet_config"]


def add_cornernet_config(cfg):
    """CornerNet-family keys. The official input is BGR, (pixel / 255 - mean) / std with the COCO
    mean/std: ``INPUT.FORMAT="BGR"``, ``MODEL.PIXEL_MEAN=[104.01362, 114.03422, 119.91659]``,
    ``MODEL.PIXEL_STD=[73.60276, 69.89082, 70.91508]``."""
    h = cfg.MODEL.HOURGLASS = CN()
    # build_hourglass104_backbone: stacks, recursion depth, widths and residuals per level
    # (DEPTH + 1 entries each), stack output width, stem width. Defaults: Hourglass-104.
    h.NUM_STACKS = 2
    h.DEPTH = 5
    h.DIMS = [256, 256, 384, 384, 384, 512]
    h.MODULES = [2, 2, 2, 2, 2, 4]
    h.CNV_DIM = 256
    h.STEM_DIM = 128

    c = cfg.MODEL.CORNERNET = CN()
    c.NUM_CLASSES = 80
    # Training: focal loss on the corner heatmaps (Gaussian bumps, radius from the box size),
    # associative-embedding pull / push on the 1-D tags, smooth-L1 on the corner offsets; every
    # stack is supervised and the total divided by the number of stacks.
    c.PULL_WEIGHT = 0.1
    c.PUSH_WEIGHT = 0.1
    c.OFF_WEIGHT = 1.0
    # Gaussian radius: "cornernet" = the corrected formula CornerNet trains with since commit
    # 3e71377 (with GAUSSIAN_IOU 0.3); "legacy" = the original roots (CenterNet-Triplet, Zhou).
    c.GAUSSIAN_IOU = 0.3
    c.RADIUS_FORMULA = "cornernet"
    c.HEAT_BIAS = -2.19
    # width of the pooling branches of the corner / centre pooling modules (official 128)
    c.POOL_DIM = 128
    # Decoding (official _decode): top-K corners per heatmap after a NMS_KERNEL max-pool, K x K
    # pairs scored (s_tl + s_br) / 2, rejected if the classes differ, |tag_tl - tag_br| >
    # AE_THRESHOLD or br is left of / above tl; the NUM_DETS best pairs.
    c.TOP_K = 100
    c.NMS_KERNEL = 3
    c.AE_THRESHOLD = 0.5
    c.NUM_DETS = 1000
    # Test: the image and its horizontal flip in one batch, every scale in TEST_SCALES (the
    # image resized by the factor, placed at the centre of a (h | 127) x (w | 127) canvas),
    # then per-class soft-NMS and the MAX_PER_IMAGE best boxes.
    c.FLIP_TEST = True
    c.TEST_SCALES = [1.0]
    c.MAX_PER_IMAGE = 100
    c.SOFT_NMS = CN()
    c.SOFT_NMS.METHOD = "gaussian"  # "gaussian", "linear" or "hard"
    c.SOFT_NMS.SIGMA = 0.5
    c.SOFT_NMS.NT = 0.5
    c.SOFT_NMS.THRESH = 0.001
    # The official test code ignores soft-NMS's kept indices: rows whose score fell below THRESH
    # stay as stale duplicates and count in the published AP. True reproduces that.
    c.SOFT_NMS.KEEP_STALE_ROWS = False
    # Multi-scale recipe: soft_nms_merge (box voting weighted by the corner scores, weight
    # (1 - w)^WEIGHT_EXP) instead of soft-NMS.
    c.SOFT_NMS.MERGE_BBOX = False
    c.SOFT_NMS.WEIGHT_EXP = 8.0

    i = cfg.INPUT.CORNERNET = CN()
    # Training sampling of CornerNetMapper (INPUT.DATASET_MAPPER_NAME "CornerNetMapper"; the
    # official kp_detection, config/CornerNet.json + db/detection.py + db/coco.py): a random
    # scale from RAND_SCALES (official arange(0.6, 1.4, 0.1)), a crop of int(INPUT_SIZE * scale)
    # pixels around a centre drawn inside the image minus BORDER (halved on small images) on a
    # zero canvas (RAND_CROP False: the whole image on a square canvas), resized to
    # INPUT_SIZE², a random flip (FLIP), then with RAND_COLOR colour jitter (brightness /
    # contrast / saturation, factors 1 + U(-COLOR_VAR, COLOR_VAR), random order) and with
    # LIGHTING the PCA lighting (alpha ~ N(0, LIGHTING_STD), EIG_VAL / EIG_VEC: the official
    # COCO values, eigenvector rows in BGR order).
    i.RAND_CROP = True
    i.RAND_SCALES = [0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3]
    i.BORDER = 128
    i.INPUT_SIZE = 511
    i.FLIP = True
    i.RAND_COLOR = True
    i.COLOR_VAR = 0.4
    i.LIGHTING = True
    i.LIGHTING_STD = 0.1
    i.EIG_VAL = [0.2141788, 0.01817699, 0.00341571]
    i.EIG_VEC = [
        [-0.58752847, -0.69563484, 0.41340352],
        [-0.5832747, 0.00994535, -0.81221408],
        [-0.56089297, 0.71832671, 0.41158938],
    ]
    # Crowd annotations are trained on as ordinary boxes, as by the official COCO loader (all of
    # an image's annotations); False: dropped, detectron2's habit.
    i.CROWD_AS_OBJECTS = True

    t = cfg.MODEL.CENTERNET_TRIPLET = CN()
    # CenterNet (keypoint triplets, Duan et al.): CornerNet (every MODEL.CORNERNET key applies)
    # with cascade corner pooling, a centre-pooling branch with centre heatmap and offset heads,
    # and these triplet-only keys. The official CenterNet-104 values of the shared keys
    # (MODEL.CORNERNET.TOP_K 70, GAUSSIAN_IOU 0.7, RADIUS_FORMULA "legacy") are set by
    # configs/CornerNet/Base-CenterNetTriplet.yaml.
    t.CASCADE = True
    # centre Gaussians: σ = (2r + 1) / CENTER_SIGMA_DIV (radius as the corners')
    t.CENTER_SIGMA_DIV = 5.0
    # Centre-region check (in image pixels): a box keeps its score only if a same-class centre
    # keypoint lies strictly inside its central region, 1/REGION_N[0] of the box for areas <=
    # SMALL_AREA and 1/REGION_N[1] above; its score becomes (2 s + s_centre) / 3.
    t.SMALL_AREA = 22500.0
    t.REGION_N = [3, 5]

    # one key per concept: CenterNet-Triplet reads the CornerNet keys it shares with CornerNet
    for key in ("TOP_K", "GAUSSIAN_IOU", "RADIUS_FORMULA"):
        cfg.register_renamed_key(
            f"MODEL.CENTERNET_TRIPLET.{key}",
            f"MODEL.CORNERNET.{key}",
            "CenterNetTriplet reads the MODEL.CORNERNET keys (the official CenterNet-104 values "
            "are in configs/CornerNet/Base-CenterNetTriplet.yaml)",
        )
