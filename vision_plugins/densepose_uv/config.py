"""``add_densepose_uv_config``: the ``MODEL.DENSEPOSE_UV`` keys. Defaults = the paper-form
("legacy") DensePose R-CNN of detectron2's DensePose project (``*_s1x_legacy`` configs, the
recipe of Güler et al. 2018)."""

from detectron2.config import CfgNode as CN

__all__ = ["add_densepose_uv_config"]


def add_densepose_uv_config(cfg):
    c = cfg.MODEL.DENSEPOSE_UV = CN()
    # Head: NUM_STACKED_CONVS x (conv KxK, CONV_HEAD_DIM, ReLU) on POOLER_RESOLUTION² RoI features
    # of IN_FEATURES (parameters roi_heads.densepose_head.body_conv_fcn{1..N}).
    c.IN_FEATURES = ["p2", "p3", "p4", "p5"]
    c.NUM_STACKED_CONVS = 8
    c.CONV_HEAD_DIM = 512
    c.CONV_HEAD_KERNEL = 3
    c.POOLER_RESOLUTION = 14
    c.POOLER_SAMPLING_RATIO = 2
    # upstream's Base-DensePose-RCNN-FPN.yaml: ROIAlign with aligned=False (not ROIAlignV2)
    c.POOLER_TYPE = "ROIAlign"
    # Predictor: four ConvTranspose2d(DECONV_KERNEL, stride 2) -- coarse segmentation
    # (NUM_COARSE_SEGM_CHANNELS = coarse parts + background), fine parts (NUM_PATCHES + 1), U, V
    # (NUM_PATCHES + 1 each) -- then bilinear x UP_SCALE: HEATMAP_SIZE = 4 x POOLER_RESOLUTION.
    c.NUM_PATCHES = 24
    c.NUM_COARSE_SEGM_CHANNELS = 15
    c.DECONV_KERNEL = 4
    c.UP_SCALE = 2
    # Training: foreground proposals with IoU > FG_IOU_THRESHOLD to a GT box that has DensePose
    # annotations; loss weights of the coarse segmentation (S), fine part (I) and U/V terms.
    c.FG_IOU_THRESHOLD = 0.7
    c.INDEX_WEIGHTS = 2.0
    c.PART_WEIGHTS = 0.3
    c.POINT_REGRESSION_WEIGHTS = 0.1
