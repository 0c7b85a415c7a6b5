"""``add_upsnet_config``: the ``MODEL.UPSNET`` keys (defaults: the UPSNet paper's COCO R-50 recipe;
the Cityscapes values are given in each comment and in ``configs/UPSNet/``)."""

from detectron2.config import CfgNode as CN

__all__ = ["add_upsnet_config"]


def add_upsnet_config(cfg):
    """UPSNet keys. The semantic head reads ``MODEL.SEM_SEG_HEAD.{IN_FEATURES, NUM_CLASSES,
    LOSS_WEIGHT, IGNORE_VALUE}``: NUM_CLASSES = stuff + thing classes (stuff first), so the number
    of stuff classes is ``SEM_SEG_HEAD.NUM_CLASSES - ROI_HEADS.NUM_CLASSES``; LOSS_WEIGHT is the
    paper's w_fcn (COCO 0.2, Cityscapes 1.0)."""
    c = cfg.MODEL.UPSNET = CN()
    # Semantic head: one subnet of SEM_NUM_LAYERS deformable 3x3 convs (+ ReLU), shared by every
    # FPN level; the conv at index SEM_NUM_LAYERS - 2 narrows to SEM_CONV_DIM (COCO 3 layers,
    # Cityscapes 2). SEM_NORM: "" (paper) or "GN" (as VPSNet). SEM_DEFORMABLE False = plain convs.
    c.SEM_NUM_LAYERS = 3
    c.SEM_CONV_DIM = 128
    c.SEM_NORM = ""
    c.SEM_DEFORMABLE = True
    # RoI semantic loss (COCO): cross-entropy of the 1x1 scorer on 28x28 RoIAligned crops of the
    # merged semantic feature at the GT boxes; weight 0.2 * w_fcn = 0.04 (Cityscapes 0 = off).
    c.SEM_ROI_LOSS_WEIGHT = 0.04
    # Panoptic head loss weight w_pan (COCO 0.1, Cityscapes 0.5).
    c.PANOPTIC_LOSS_WEIGHT = 0.1
    # Fraction of GT instances kept for the panoptic head in training (at least one); the dropped
    # ones are the targets of the "unknown" channel, which exists only when this is < 1.
    c.BOX_KEEP_FRACTION = 0.7
    c.TEST = CN()
    # "panoptic_head": UPSNet's head; "heuristic": detectron2's
    # combine_semantic_and_instance_outputs on the same heads with MODEL.PANOPTIC_FPN.COMBINE.*
    # (the baseline the paper compares against).
    c.TEST.COMBINE = "panoptic_head"
    # Instances entering the panoptic head: score > SCORE_THRESH, class-agnostic NMS at
    # NMS_THRESH, at most MAX_DET; an instance whose mask (logit > 0) lies more than
    # REMOVAL_OVERLAP inside the earlier kept masks of its own class is removed.
    c.TEST.SCORE_THRESH = 0.6
    c.TEST.NMS_THRESH = 0.5
    c.TEST.MAX_DET = 100
    c.TEST.REMOVAL_OVERLAP = 0.3
    # An instance region whose semantic majority is another class is relabelled to the stuff
    # class holding at least SEM_VOTE_THRESH of it; stuff segments smaller than
    # STUFF_AREA_LIMIT pixels (output resolution) become void (COCO 4096, Cityscapes 2048).
    c.TEST.SEM_VOTE_THRESH = 0.5
    c.TEST.STUFF_AREA_LIMIT = 4096
