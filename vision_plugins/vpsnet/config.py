"""``add_vpsnet_config``: the ``MODEL.VPSNET`` and ``INPUT.VPSNET`` keys (defaults: the
Cityscapes-VPS fusetrack recipe of VPSNet, with torchvision's RAFT in place of FlowNet2)."""

from detectron2.config import CfgNode as CN

__all__ = ["add_vpsnet_config"]


def add_vpsnet_config(cfg):
    """VPSNet keys; the UPSNet keys (``MODEL.UPSNET``) configure the image part."""
    c = cfg.MODEL.VPSNET = CN()
    # "fuse": flow-aligned fusion of the previous frame's FPN features; "track": the track head
    # (instance ids across frames); "fusetrack": both (the paper's VPSNet-FuseTrack).
    c.MODE = "fusetrack"
    c.FLOW = CN()
    # FLOW_NET_REGISTRY name: "RAFTSmall" / "RAFTLarge" (torchvision; WEIGHTS = a local
    # state-dict path, "" = random initialisation with a warning), "ZeroFlow", or "Precomputed"
    # (flow files of the dataset, read by VideoPanopticMapper). The network is frozen.
    c.FLOW.NAME = "RAFTSmall"
    c.FLOW.WEIGHTS = ""
    c.FLOW.NUM_UPDATES = 12  # RAFT's recurrent refinement steps
    c.FUSE = CN()
    # FPN level (index into MODEL.FPN's outputs, 0 = P2) where the levels are gathered, aligned
    # and fused before being scattered back to every level (Libra R-CNN BFP, refine_level 0).
    c.FUSE.REFINE_LEVEL = 0
    # Flow residual: local correlation of the target and warped reference features over
    # displacements up to CORR_RANGE (81 channels for 4), target feature and flow -> 2 channels.
    c.FUSE.CORR_RANGE = 4
    c.TRACK = CN()
    # Track head (MaskTrack R-CNN): RoI features (the box pooler's) -> NUM_FC FCs of FC_DIM,
    # softmax cross-entropy over [new object, reference instances] x LOSS_WEIGHT.
    c.TRACK.NUM_FC = 2
    c.TRACK.FC_DIM = 1024
    c.TRACK.LOSS_WEIGHT = 0.5
    # Test-time score of detection i for track j: log_softmax(affinity)_ij + a log(score_i) +
    # b IoU(box_i, box_j) + c [class_i == class_j], MATCH_COEFF = [a, b, c]; the "new object"
    # column has IoU DUMMY_IOU and counts as the same class.
    c.TRACK.MATCH_COEFF = [1.0, 2.0, 10.0]
    c.TRACK.DUMMY_IOU = 0.0
    cfg.INPUT.VPSNET = CN()
    # Training: raw-frame offsets of the reference frame, one drawn per sample among those that
    # exist in the video (and are annotated when the track head is on); Cityscapes-VPS: the
    # neighbouring annotated frames. At test time the reference is the previous frame.
    cfg.INPUT.VPSNET.REF_OFFSETS = [-5, 5]
    # the spelling before vision_plugins 0.2 (one name per architecture: VPSNET) is an error
    # naming the new key, in YAML files (node) and KEY VALUE lists (leaf) alike
    cfg.register_renamed_key("INPUT.VPS", "INPUT.VPSNET")
    cfg.register_renamed_key("INPUT.VPS.REF_OFFSETS", "INPUT.VPSNET.REF_OFFSETS")
