"""``add_yolact_edge_config``: the ``MODEL.YOLACT_EDGE`` and ``INPUT.YOLACT_EDGE`` keys (defaults:
the official ``yolact_edge_vid_config``, haotian-liu/yolact_edge @873fceb). The YOLACT parts of
the model use ``MODEL.YOLACT``."""

from detectron2.config import CfgNode as CN

__all__ = ["add_yolact_edge_config"]


def add_yolact_edge_config(cfg):
    c = cfg.MODEL.YOLACT_EDGE = CN()
    # Frames of a video (inputs with "video_id") run the full network every KEYFRAME_INTERVAL
    # frames, counted from the video's first frame; the others reuse the keyframe's features.
    # 1 = every frame is a keyframe (plain YOLACT).
    c.KEYFRAME_INTERVAL = 5
    # Phase of the schedule: frame i (0-based in its video) is a keyframe when i == 0 or
    # (i - KEYFRAME_OFFSET) % KEYFRAME_INTERVAL == 0. Evaluating with each offset in
    # 0..INTERVAL-1 puts the annotated frames of a video set at every distance from their keyframe.
    c.KEYFRAME_OFFSET = 0
    # FeatFlowNet: the C3 laterals are reduced by one 3x3 conv + LeakyReLU per entry of
    # REDUCE_CHANNELS, then encoded with ENCODE_CHANNELS x (1, 2, 4) channels.
    c.FLOW = CN()
    c.FLOW.REDUCE_CHANNELS = [64]
    c.FLOW.ENCODE_CHANNELS = 64
    # Per-channel, per-position scale / bias predicted with the flow and applied to the warped
    # keyframe features; SPA refinement of the warped P4 / P5 with the current C3 lateral.
    c.USE_SCALE_FACTOR = True
    c.USE_SCALE_BIAS = True
    c.USE_SPA = True
    # Training stage (the paper's three): "image" trains YOLACT on single images (every input
    # a keyframe); "flow" trains only the flow network on frame pairs with ground-truth flow
    # (end-point error at three scales); "joint" fine-tunes everything but the ResNet and the FPN
    # laterals on (reference, annotated frame) pairs: YOLACT losses on the full forward and on the
    # feature-transfer forward of the annotated frame (``warp_`` prefix) plus the
    # feature-matching loss.
    c.TRAIN_STAGE = "image"
    # Feature-matching loss: 1 - cosine similarity over channels between the transferred and the
    # full-forward P4 / P5 sums ("L"), after the frozen phase-2 convs ("P") or both ("L+P").
    c.FM_LOSS = CN()
    c.FM_LOSS.LOCATION = "L+P"
    c.FM_LOSS.WEIGHT = 1.0

    i = cfg.INPUT.YOLACT_EDGE = CN()
    # Joint stage: the keyframe is drawn from these frame offsets of the annotated frame (the
    # official 2-5 frames before it).
    i.REF_OFFSETS = [-5, -4, -3, -2]
    # Flow stage: pairs (frame, frame + offset) whose flow file exists (``flow_file_name``).
    i.FLOW_REF_OFFSETS = [-1, -5]
    # Flow stage: pan the reference by a random integer (dx, dy) in [-FLOW_SHIFT, FLOW_SHIFT]²
    # pixels of the network input (added to the flow): larger known motions. 0 = off.
    i.FLOW_SHIFT = 0
