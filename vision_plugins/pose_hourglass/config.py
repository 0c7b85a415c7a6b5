"""``add_pose_hourglass_config``: the ``MODEL.POSE_HOURGLASS`` keys (defaults: official MPII)."""

from detectron2.config import CfgNode as CN

__all__ = ["add_pose_hourglass_config"]


def add_pose_hourglass_config(cfg):
    """Add the Stacked Hourglass (Newell et al., princeton-vl/pytorch_stacked_hourglass) keys.

    The official network also takes RGB pixels divided by 255 with no mean: its configs set
    ``INPUT.FORMAT="RGB"``, ``MODEL.PIXEL_MEAN=[0, 0, 0]`` and ``MODEL.PIXEL_STD=[255, 255, 255]``.
    """
    cfg.MODEL.POSE_HOURGLASS = CN()
    # Number of stacked hourglasses (8 in the released MPII model, 2 for the "2HG" model).
    cfg.MODEL.POSE_HOURGLASS.NSTACK = 8
    # Feature channels of every hourglass.
    cfg.MODEL.POSE_HOURGLASS.INP_DIM = 256
    # Number of joints (output heatmaps per stack); 16 for MPII.
    cfg.MODEL.POSE_HOURGLASS.OUP_DIM = 16
    # Channels added at each hourglass downsampling (0 in the official recipe).
    cfg.MODEL.POSE_HOURGLASS.INCREASE = 0
    # Square network input and heatmap sizes (the network has stride 4: INPUT_RES = 4 OUTPUT_RES).
    cfg.MODEL.POSE_HOURGLASS.INPUT_RES = 256
    cfg.MODEL.POSE_HOURGLASS.OUTPUT_RES = 64
    # Gaussian sigma of the target heatmaps, in heatmap pixels (official: OUTPUT_RES / 64).
    cfg.MODEL.POSE_HOURGLASS.SIGMA = 1.0
    # Test-time flip: average with the mirrored input's heatmaps (official test.py does).
    cfg.MODEL.POSE_HOURGLASS.FLIP_TEST = True
    # Top-down crop and training augmentation (TopDownPoseMapper): the crop is the square of side
    # 200 * scale * SCALE_PADDING around (cx, cy + CENTER_SHIFT * scale), with (cx, cy) and scale
    # as in the MPII annotation; training rotates by up to ±ROTATION degrees, multiplies the crop
    # side by a factor in SCALE_RANGE and flips with FLIP_PROB (official MPII recipe: ±30°,
    # 0.75-1.25, 0.5). The official annotation files (annot/*.h5) store MPII's scale × 1.25 and
    # centre y + 15 × scale (checked on valid.h5 against the raw MPII values), so with raw MPII
    # annotations 1.25 and 15 reproduce the official crops; boxes from COCO-style annotations
    # (no centre/scale) are used as the person square: centre = box centre, scale = max side / 200.
    cfg.INPUT.POSE_HOURGLASS = CN()
    cfg.INPUT.POSE_HOURGLASS.SCALE_PADDING = 1.25
    cfg.INPUT.POSE_HOURGLASS.CENTER_SHIFT = 15.0
    cfg.INPUT.POSE_HOURGLASS.ROTATION = 30.0
    cfg.INPUT.POSE_HOURGLASS.SCALE_RANGE = (0.75, 1.25)
    cfg.INPUT.POSE_HOURGLASS.FLIP_PROB = 0.5
