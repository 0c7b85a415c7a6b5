"""``add_retinaface_config``: the ``MODEL.RETINAFACE`` keys (defaults: biubug6/Pytorch_Retinaface
@b984b4b, ``cfg_mnet``)."""

from detectron2.config import CfgNode as CN

__all__ = ["add_retinaface_config"]


def add_retinaface_config(cfg):
    """Add the RetinaFace keys. The reference network takes BGR pixels minus (104, 117, 123) with
    no std and no resize or padding: its configs set ``INPUT.FORMAT="BGR"``,
    ``MODEL.PIXEL_MEAN=[104, 117, 123]``, ``MODEL.PIXEL_STD=[1, 1, 1]``. Anchors are detectron2's
    ``MODEL.ANCHOR_GENERATOR`` (sizes [[16, 32], [64, 128], [256, 512]], one aspect ratio,
    offset 0.5), equal to the reference ``PriorBox``."""
    c = cfg.MODEL.RETINAFACE = CN()
    # FPN / SSH / head width: 64 for MobileNet-0.25, 256 for ResNet-50. LeakyReLU(0.1) is used
    # in the FPN and SSH when it is <= 64, ReLU otherwise (the reference rule).
    c.OUT_CHANNELS = 64
    # Backbone outputs fed to the FPN (strides 8, 16, 32).
    c.IN_FEATURES = ["stage1", "stage2", "stage3"]
    # Matching: anchors with IoU >= IOU_THRESHOLD are positives; each face also takes its best
    # anchor when that IoU >= FORCE_MATCH_MIN_IOU. Hard negatives: NEG_POS_RATIO per positive.
    c.IOU_THRESHOLD = 0.35
    c.FORCE_MATCH_MIN_IOU = 0.2
    c.NEG_POS_RATIO = 7
    # Loss = LOC_WEIGHT * box smooth-L1 + class CE + LANDMARK_WEIGHT * landmark smooth-L1.
    c.LOC_WEIGHT = 2.0
    c.LANDMARK_WEIGHT = 1.0
    # Box deltas (dx, dy, dw, dh) weights: SSD variances 0.1 / 0.2; landmarks use 1 / 0.1.
    c.BBOX_REG_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
    # Inference: scores > SCORE_THRESH_TEST, the TOPK_CANDIDATES_TEST best over all levels,
    # NMS at NMS_THRESH_TEST (NMS_PLUS_ONE: areas and overlaps counted pixel-inclusively,
    # (x2 - x1 + 1)(y2 - y1 + 1), as the reference py_cpu_nms), TEST.DETECTIONS_PER_IMAGE kept.
    c.SCORE_THRESH_TEST = 0.02
    c.TOPK_CANDIDATES_TEST = 5000
    c.NMS_THRESH_TEST = 0.4
    c.NMS_PLUS_ONE = True
    # Training crops are resized to IMAGE_SIZE² (reference: 640 for MobileNet, 840 for ResNet-50);
    # RetinaFaceMapper, see its docstring for the whole augmentation.
    cfg.INPUT.RETINAFACE = CN()
    cfg.INPUT.RETINAFACE.IMAGE_SIZE = 640
