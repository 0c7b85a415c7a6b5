"""``add_centernet_oap_config``: the ``MODEL.CENTERNET_OAP`` keys (defaults: official ctdet,
xingyizhou/CenterNet @4c50fd3)."""

from detectron2.config import CfgNode as CN

__all__ = ["add_centernet_oap_config"]


def add_centernet_oap_config(cfg):
    """CenterNet "Objects as Points" keys. The official input is BGR, (pixel / 255 - mean) /
    std with the COCO mean/std: ``INPUT.FORMAT="BGR"``, ``MODEL.PIXEL_MEAN=[104.01362,
    114.03422, 119.91659]``, ``MODEL.PIXEL_STD=[73.60276, 69.89082, 70.91508]``."""
    c = cfg.MODEL.CENTERNET_OAP = CN()
    c.NUM_CLASSES = 80
    # Head: conv3x3(HEAD_CONV) - ReLU - conv1x1 for the centre heatmap (NUM_CLASSES), the box
    # size (2) and the centre offset (2); heatmap bias initialised to -2.19 (prior 0.1).
    c.HEAD_CONV = 64
    # ResNet backbones (build_centernet_resnet_backbone): res5 followed by 3 x [(DCN 3x3 - BN -
    # ReLU -) ConvTranspose 4x4 stride 2 - BN - ReLU] to stride 4; ResNet-18: DECONV_CHANNELS
    # [256, 256, 256] without DCN ("res_18"); ResDCN: [256, 128, 64] with DECONV_DCN ("resdcn").
    c.DECONV_CHANNELS = [256, 256, 256]
    c.DECONV_DCN = False
    # Loss weights (focal heatmap, L1 size, L1 offset).
    c.HM_WEIGHT = 1.0
    c.WH_WEIGHT = 0.1
    c.OFF_WEIGHT = 1.0
    # Inference: K highest 3x3-max-pool peaks over all classes.
    c.TOP_K = 100
    # Flip test (official --flip_test): the image and its mirror in one batch; the heatmaps
    # (after the sigmoid) and sizes are averaged, the offsets come from the image alone.
    c.FLIP_TEST = False
    # Training input of CenterNetMapper (INPUT.DATASET_MAPPER_NAME: "CenterNetMapper"; the
    # official ctdet random crop, see vision_plugins/centernet/mapper.py): the image scaled by
    # INPUT_RES / (max(h, w) * a factor from SCALE_CHOICES) about a random centre at least BORDER
    # (halved for small images) from the sides, mirrored with probability FLIP, warped to
    # INPUT_RES²; COLOR_AUG: brightness / contrast / saturation in random order + PCA lighting.
    i = cfg.INPUT.CENTERNET_OAP = CN()
    i.INPUT_RES = 512
    i.SCALE_CHOICES = [0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3]  # np.arange(0.6, 1.4, 0.1)
    i.BORDER = 128
    i.FLIP = 0.5
    i.COLOR_AUG = True
    # Crowd annotations are trained on as ordinary boxes, as by the official ctdet loader (all of
    # an image's annotations); False: dropped, detectron2's habit.
    i.CROWD_AS_OBJECTS = True
    # one spelling per concept: TOP_K, as MODEL.CORNERNET.TOP_K and MODEL.YOLACT.NMS.TOP_K
    cfg.register_renamed_key(
        "MODEL.CENTERNET_OAP.TOPK", "MODEL.CENTERNET_OAP.TOP_K", "TOP_K in every architecture"
    )
