"""``add_yolact_config``: the ``MODEL.YOLACT`` keys (defaults: official ``yolact_base_config``,
dbolya/yolact @902073d)."""

from detectron2.config import CfgNode as CN

__all__ = ["add_yolact_config"]


def add_yolact_config(cfg):
    """Add the YOLACT / YOLACT++ keys. The official input is the image resized to MAX_SIZE² (no
    aspect ratio kept), RGB, normalised with the ImageNet mean/std below: the YOLACT configs set
    ``INPUT.FORMAT="RGB"``, ``MODEL.PIXEL_MEAN=[123.68, 116.78, 103.94]`` and
    ``MODEL.PIXEL_STD=[58.40, 57.12, 57.38]``."""
    _add_input_config(cfg)
    c = cfg.MODEL.YOLACT = CN()
    # Foreground classes (the official num_classes counts background too: 81 for COCO). Class
    # index 0 of the classification head is background; detections report 0-based foreground ids.
    c.NUM_CLASSES = 80
    # Side of the square network input; anchors are sized relative to it.
    c.MAX_SIZE = 550
    # Number of prototype masks k (ProtoNet outputs, mask coefficients per anchor).
    c.NUM_PROTOTYPES = 32
    # Anchors (YolactAnchorGenerator), one entry per FPN level p3..p7: the base size in pixels
    # of MAX_SIZE; each level has SCALES_PER_OCTAVE sizes base * 2^(i / SCALES_PER_OCTAVE) times
    # the ASPECT_RATIOS (w = s * sqrt(ar), h = s / sqrt(ar)); SQUARE_ANCHORS makes h = w (the
    # official YOLACT models keep that bug for weight compatibility; YOLACT++ does not).
    c.ANCHOR_SIZES = [24, 48, 96, 192, 384]
    c.ASPECT_RATIOS = [1.0, 0.5, 2.0]
    c.SCALES_PER_OCTAVE = 1
    c.SQUARE_ANCHORS = True
    # FPN output channels (also ProtoNet and head width).
    c.FPN_CHANNELS = 256
    # Backbone: detectron2 ResNet (MODEL.RESNETS.DEPTH, NORM, STRIDE_IN_1X1=False, FREEZE_AT)
    # on res3-res5. DCN_STAGES blocks per stage res2..res5 (counted from the end) use a modulated
    # deformable 3x3 conv, every DCN_INTERVAL-th block (YOLACT++: [0, 4, 23, 3] and 3 for R-101,
    # [0, 4, 6, 3] and 1 for R-50).
    c.DCN_STAGES = [0, 0, 0, 0]
    c.DCN_INTERVAL = 1
    # Matching: IoU >= POS_IOU positive, < NEG_IOU background, in between neutral; a
    # non-positive anchor whose intersection with a crowd box / its own area > CROWD_IOF is
    # neutral.
    c.POS_IOU = 0.5
    c.NEG_IOU = 0.4
    c.CROWD_IOF = 0.7
    # OHEM: negatives per positive.
    c.NEGPOS_RATIO = 3
    # Loss weights: box smooth-L1, class CE, mask BCE, semantic segmentation, mask-IoU (++).
    c.BBOX_ALPHA = 1.5
    c.CONF_ALPHA = 1.0
    c.MASK_ALPHA = 6.125
    c.SEMSEG_ALPHA = 1.0
    # At most this many positives per image get a mask loss (random subset, loss rescaled).
    c.MASKS_TO_TRAIN = 100
    # Train the semantic segmentation auxiliary head (1x1 conv on P3).
    c.SEMSEG_ON = True
    # Inference: priors whose best foreground score > CONF_THRESH, per class the TOP_K best,
    # Fast NMS at IOU_THRESH (CROSS_CLASS: one NMS over all classes), MAX_DETECTIONS kept.
    c.NMS = CN()
    c.NMS.CONF_THRESH = 0.05
    c.NMS.IOU_THRESH = 0.5
    c.NMS.TOP_K = 200
    c.NMS.MAX_DETECTIONS = 100
    c.NMS.CROSS_CLASS = False
    # YOLACT++ mask re-scoring (FastMaskIoUNet): predicted mask IoU trained with weight ALPHA on
    # masks whose ground truth covers more than DISCARD_AREA prototype pixels; at inference the
    # instances get ``mask_scores`` = score x predicted IoU (used for segm evaluation).
    c.MASKIOU = CN()
    c.MASKIOU.ENABLED = False
    c.MASKIOU.ALPHA = 25.0
    c.MASKIOU.DISCARD_AREA = 25.0


def _add_input_config(cfg):
    """``INPUT.YOLACT``: the training augmentation (``YolactDatasetMapper``). Values: the
    official ``SSDAugmentation`` (utils/augmentations.py, data/config.py ``augment_*``)."""
    i = cfg.INPUT.YOLACT = CN()
    # "flip": INPUT.RANDOM_FLIP + resize (the default: configs without the key keep their
    # training); "ssd": the official SSDAugmentation, steps switched by the flags below (the
    # official augment_photometric_distort / augment_expand / augment_random_sample_crop /
    # augment_random_mirror, all True).
    i.AUGMENT = "flip"
    i.PHOTOMETRIC = True
    i.EXPAND = True
    i.CROP = True
    i.MIRROR = True
    # Photometric distortion: brightness delta, contrast and saturation factor ranges, hue
    # delta in degrees (each applied with probability 1/2).
    i.BRIGHTNESS_DELTA = 32.0
    i.CONTRAST = [0.5, 1.5]
    i.SATURATION = [0.5, 1.5]
    i.HUE_DELTA = 18.0
    # Zoom-out (probability 1/2): canvas ratio uniform in [1, EXPAND_MAX_RATIO], filled with
    # MODEL.PIXEL_MEAN.
    i.EXPAND_MAX_RATIO = 4.0
    # SSD random crop: one mode drawn uniformly from CROP_MIN_IOUS (-1 = no crop, the official
    # None; 0 = any patch), CROP_TRIES tries per mode, sides in [CROP_MIN_SCALE, 1] of the
    # image, h / w in CROP_ASPECT. CROP_IOU_CHECK False = the official check, which never
    # rejects; True = reject a patch unless some box has IoU >= the mode's minimum.
    i.CROP_MIN_IOUS = [-1.0, 0.1, 0.3, 0.7, 0.9, 0.0]
    i.CROP_TRIES = 50
    i.CROP_MIN_SCALE = 0.3
    i.CROP_ASPECT = [0.5, 2.0]
    i.CROP_IOU_CHECK = False
    # After the resize, boxes (crowds too) not wider and taller than this many network-input
    # pixels are dropped: the official discard_box_width = 4 / 550, compared with pixel boxes.
    i.DISCARD_BOX_SIZE = 4.0 / 550
