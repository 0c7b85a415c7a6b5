"""``YolactEdge`` meta-architecture: YOLACT with keyframe feature transfer for video.

Liu et al., "YolactEdge: Real-time Instance Segmentation on the Edge" (ICRA 2021), as in
haotian-liu/yolact_edge @873fceb. The YOLACT FPN runs in two phases (``YolactFPN.phase1``:
laterals + top-down sums S3-S5; ``phase2``: output convs, P6, P7). A keyframe runs the whole
network and keeps its sums and its C3 lateral. Any other frame runs the ResNet up to C3 only,
takes its C3 lateral, estimates with ``FeatFlowNet`` (current vs keyframe lateral) a flow, scale
and bias at the P4 and P5 grids, warps the keyframe's S4 / S5 with them, rebuilds S3 = upsampled
warped S4 + the current lateral, refines S4 / S5 with ``SPA``, then runs phase 2 and YOLACT's
heads and post-processing unchanged.
"""

from typing import Dict, List, NamedTuple, Optional

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY
from torch import nn

from ..yolact.backbone import YolactFPN
from ..yolact.meta_arch import YOLACT
from .modules import SPA, FeatFlowNet, conv_lrelu, pixel_flow_to_units, resize, warp_features

__all__ = ["YolactEdge", "KeyframeSchedule", "KeyframeState"]

TRAIN_STAGES = ("image", "flow", "joint")
FM_LOSS_LOCATIONS = ("L", "P", "L+P")
# trained parameters per stage (prefixes); "image" trains what YOLACT trains
_FLOW_MODULES = ("flow_pre_convs.", "flow_net.")
_FROZEN_IN_JOINT = ("backbone.bottom_up.", "backbone.lat_layers.")


class KeyframeState(NamedTuple):
    """What a keyframe leaves for the next frames: its phase-1 sums [S3, S4, S5] and C3
    lateral (detached), and the lateral reduced by the flow pre-convs (None until computed)."""

    sums: List[torch.Tensor]
    lateral: torch.Tensor
    reduced: Optional[torch.Tensor] = None


class KeyframeSchedule:
    """Which frames of a stream are keyframes (shared by the eager model and its exported
    graphs): frames 0, K, 2K, ... of each video (K = ``interval``; shifted by ``offset``, frame 0
    always included); a new ``video_id``, or no keyframe state, restarts the count."""

    def __init__(self, interval: int, offset: int = 0):
        self.interval, self.offset = interval, offset
        self.video_id, self.frames_seen = None, 0

    def __call__(self, video_id, have_state: bool = True) -> bool:
        if video_id != self.video_id or not have_state:
            self.video_id, self.frames_seen = video_id, 0
        i = self.frames_seen
        self.frames_seen += 1
        return i == 0 or (i - self.offset) % self.interval == 0


@META_ARCH_REGISTRY.register()
class YolactEdge(YOLACT):
    """Inputs as ``YOLACT``; a video frame also carries ``video_id`` (and optionally
    ``frame_id``). At inference, frames of a video must arrive in order, one input at a time or
    in a batch (processed sequentially): a new ``video_id`` resets the keyframe state, and the
    frames 0, K, 2K, ... of each video (K = MODEL.YOLACT_EDGE.KEYFRAME_INTERVAL; shifted by
    KEYFRAME_OFFSET, frame 0 always included) are keyframes.
    Inputs without ``video_id`` are independent images (all keyframes: YOLACT's outputs, bit for
    bit). Each output has YOLACT's ``instances`` plus ``is_keyframe``.

    Training follows MODEL.YOLACT_EDGE.TRAIN_STAGE (see ``add_yolact_edge_config``): "image"
    (YOLACT's losses), "flow" (inputs with ``ref`` = {"image"} and ``flow`` 2 x H x W in pixels,
    current -> reference: ``loss_flow``), "joint" (inputs with instances and ``ref``: YOLACT's
    losses on the full forward, ``loss_warp_*`` on the transferred features, ``loss_fm``)."""

    @configurable
    def __init__(
        self,
        *,
        keyframe_interval: int = 5,
        keyframe_offset: int = 0,
        reduce_channels=(64,),
        encode_channels: int = 64,
        use_scale_factor: bool = True,
        use_scale_bias: bool = True,
        use_spa: bool = True,
        train_stage: str = "image",
        fm_loss_location: str = "L+P",
        fm_loss_weight: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(self.backbone, YolactFPN):
            raise ValueError(
                f"YolactEdge needs the YOLACT FPN backbone (MODEL.BACKBONE.NAME="
                f"'build_yolact_resnet_fpn_backbone'), got {type(self.backbone).__name__}"
            )
        if keyframe_interval < 1:
            raise ValueError(
                f"MODEL.YOLACT_EDGE.KEYFRAME_INTERVAL must be >= 1, got {keyframe_interval}"
            )
        if not 0 <= keyframe_offset < keyframe_interval:
            raise ValueError(
                f"MODEL.YOLACT_EDGE.KEYFRAME_OFFSET must be in [0, KEYFRAME_INTERVAL), got "
                f"{keyframe_offset}"
            )
        if train_stage not in TRAIN_STAGES:
            raise ValueError(
                f"MODEL.YOLACT_EDGE.TRAIN_STAGE={train_stage!r}; expected one of {TRAIN_STAGES}"
            )
        if fm_loss_location not in FM_LOSS_LOCATIONS:
            raise ValueError(
                f"MODEL.YOLACT_EDGE.FM_LOSS.LOCATION={fm_loss_location!r}; expected one of "
                f"{FM_LOSS_LOCATIONS}"
            )
        channels = self.backbone.output_shape()[self.in_features[0]].channels
        layers, c = [], channels
        for r in reduce_channels:
            layers.append(conv_lrelu(c, r))
            c = r
        # constructor initialisation, as the official model when started from YOLACT weights
        self.flow_pre_convs = nn.Sequential(*layers)
        self.flow_net = FeatFlowNet(2 * c, encode_channels, channels)
        self.spa = SPA(channels) if use_spa else None
        self.keyframe_interval, self.keyframe_offset = keyframe_interval, keyframe_offset
        self.use_scale_factor, self.use_scale_bias = use_scale_factor, use_scale_bias
        self.train_stage = train_stage
        self.fm_loss_location, self.fm_loss_weight = fm_loss_location, fm_loss_weight
        if train_stage != "image":
            for name, p in self.named_parameters():
                if not self._trained(name):
                    p.requires_grad_(False)
        self.reset()

    @classmethod
    def from_config(cls, cfg):
        ret = super().from_config(cfg)
        e = cfg.MODEL.YOLACT_EDGE
        ret.update(
            keyframe_interval=e.KEYFRAME_INTERVAL,
            keyframe_offset=e.KEYFRAME_OFFSET,
            reduce_channels=tuple(e.FLOW.REDUCE_CHANNELS),
            encode_channels=e.FLOW.ENCODE_CHANNELS,
            use_scale_factor=e.USE_SCALE_FACTOR,
            use_scale_bias=e.USE_SCALE_BIAS,
            use_spa=e.USE_SPA,
            train_stage=e.TRAIN_STAGE,
            fm_loss_location=e.FM_LOSS.LOCATION,
            fm_loss_weight=e.FM_LOSS.WEIGHT,
        )
        return ret

    def _trained(self, name: str) -> bool:
        if self.train_stage == "flow":
            return name.startswith(_FLOW_MODULES)
        if self.train_stage == "joint":
            return not name.startswith(_FROZEN_IN_JOINT)
        return True

    def train(self, mode: bool = True):
        """Also resets the video state; frozen modules of the flow / joint stages stay in eval
        mode (the official ``fine_tune_layers``)."""
        super().train(mode)
        if mode and self.train_stage != "image":
            for name, m in self.named_modules():
                if name and not any(p.requires_grad for p in m.parameters()):
                    m.eval()
        self.reset()
        return self

    # -- video state -----------------------------------------------------------------------

    def reset(self):
        """Forget the current video: the next frame is a keyframe."""
        self.schedule = KeyframeSchedule(self.keyframe_interval, self.keyframe_offset)
        self._keyframe: Optional[KeyframeState] = None

    # -- the two paths ---------------------------------------------------------------------

    def keyframe_features(self, images: torch.Tensor):
        """Full network on normalised images: (P3-P7 list, ``KeyframeState``). With the same
        weights the P3-P7 equal YOLACT's ``forward_features`` bit for bit."""
        fpn = self.backbone
        feats = fpn.bottom_up(self._memory_format(images))
        sums, laterals = fpn.phase1([feats[f] for f in fpn.in_features])
        state = KeyframeState([s.detach() for s in sums], laterals[0].detach())
        return fpn.phase2(sums), state

    def current_lateral(self, images: torch.Tensor) -> torch.Tensor:
        """The partial backbone: the ResNet up to C3 (stem, res2, res3), then C3's lateral."""
        resnet, fpn = self.backbone.bottom_up, self.backbone
        x = resnet.stem(self._memory_format(images))
        for name, stage in zip(resnet.stage_names, resnet.stages):
            x = stage(x)
            if name == fpn.in_features[0]:
                break
        return fpn.lat_layers[-1](x).detach()

    def transfer(self, lateral: torch.Tensor, key: KeyframeState) -> List[torch.Tensor]:
        """Phase-1 sums [S3, S4, S5] of a non-keyframe from its C3 ``lateral`` and the keyframe
        state (``key.reduced`` is used when set, else computed)."""
        reduced = key.reduced if key.reduced is not None else self.flow_pre_convs(key.lateral)
        flows = self.flow_net(self.flow_pre_convs(lateral), reduced)
        warped = []
        for (flow, scale, bias), feat in zip(flows, key.sums[1:]):
            x = warp_features(feat, flow)
            if self.use_scale_factor:
                x = x * scale
            if self.use_scale_bias:
                x = x + bias
            warped.append(x)
        p3 = resize(warped[0], lateral.shape[-2:]) + lateral
        if self.spa is not None:
            warped = self.spa(lateral, warped)
        return [p3] + warped

    def nonkeyframe_features(self, images: torch.Tensor, key: KeyframeState):
        """P3-P7 of non-keyframes (the partial backbone and feature transfer)."""
        return self.backbone.phase2(self.transfer(self.current_lateral(images), key))

    # -- forward ---------------------------------------------------------------------------

    def forward(self, batched_inputs: List[Dict]):
        if self.training:
            if self.train_stage == "flow":
                return self.flow_losses(batched_inputs)
            if self.train_stage == "joint":
                return self.joint_losses(batched_inputs)
            return super().forward(batched_inputs)
        videos = ["video_id" in x for x in batched_inputs]
        if not any(videos):
            results = super().forward(batched_inputs)
            for r in results:
                r["is_keyframe"] = True
            return results
        if not all(videos):
            raise ValueError("a batch mixes video frames (with 'video_id') and single images")
        return [self._stream(x) for x in batched_inputs]

    def _stream(self, x: Dict) -> Dict:
        keyframe = self.schedule(x["video_id"], self._keyframe is not None)
        images = self.preprocess_image([x])
        if keyframe:
            feats, state = self.keyframe_features(images.tensor)
            self._keyframe = state._replace(reduced=self.flow_pre_convs(state.lateral))
        else:
            feats = self.nonkeyframe_features(images.tensor, self._keyframe)
        result = self.inference([x], images, self.predict(feats))[0]
        result["is_keyframe"] = keyframe
        return result

    # -- training stages -------------------------------------------------------------------

    def _references(self, batched_inputs):
        missing = [i for i, x in enumerate(batched_inputs) if "ref" not in x]
        if missing:
            raise KeyError(
                f"MODEL.YOLACT_EDGE.TRAIN_STAGE={self.train_stage!r} needs inputs with 'ref' "
                f"(inputs {missing} have none): use INPUT.DATASET_MAPPER_NAME "
                f"'YolactEdgeVideoMapper' on a video dataset"
            )
        return self.preprocess_image([x["ref"] for x in batched_inputs]).tensor

    def flow_losses(self, batched_inputs):
        """``loss_flow``: the official optical-flow loss, sum over the three predictions of the
        mean end-point error against the ground truth in ``warp_features`` units, resized
        bilinearly to each prediction."""
        images = self.preprocess_image(batched_inputs).tensor
        refs = self._references(batched_inputs)
        if any("flow" not in x for x in batched_inputs):
            raise KeyError("the flow stage needs inputs with 'flow' (YolactEdgeVideoMapper)")
        gt = torch.stack([x["flow"] for x in batched_inputs]).to(self.device).float()
        if gt.shape[-2:] != images.shape[-2:]:
            raise ValueError(f"flow {tuple(gt.shape)} does not match the images {images.shape}")
        gt = pixel_flow_to_units(gt)
        with torch.no_grad():
            target, source = self.current_lateral(images), self.current_lateral(refs)
        preds = self.flow_net(self.flow_pre_convs(target), self.flow_pre_convs(source), True)
        loss = sum(
            torch.norm(flow - resize(gt, flow.shape[-2:]), dim=1).mean() for flow, _, _ in preds
        )
        return {"loss_flow": loss}

    def joint_losses(self, batched_inputs):
        """The official video fine-tuning step: the reference frame is the keyframe (no
        gradient); the annotated frame runs the full network (YOLACT's losses) and the feature
        transfer from the keyframe (``loss_warp_*`` and the feature-matching ``loss_fm`` against
        the full forward's S4 / S5)."""
        images = self.preprocess_image(batched_inputs)
        refs = self._references(batched_inputs)
        with torch.no_grad():
            _, key = self.keyframe_features(refs)
        full, current = self.keyframe_features(images.tensor)
        losses = self.losses(batched_inputs, images, self.predict(full))
        sums = self.transfer(current.lateral, key)
        warped = self.losses(batched_inputs, images, self.predict(self.backbone.phase2(sums)))
        losses.update({"loss_warp_" + k[len("loss_") :]: v for k, v in warped.items()})
        losses["loss_fm"] = self.feature_matching_loss(sums[1:], current.sums[1:])
        return losses

    def feature_matching_loss(self, preds: List[torch.Tensor], targets: List[torch.Tensor]):
        """Mean over pairs of mean(1 - cosine similarity over channels), times FM_LOSS.WEIGHT.
        Pairs per level (S4, S5): the sums ("L") and/or the sums through a phase-2 output conv
        with detached weights + ReLU ("P"). As in the official ``extra_loss``, level i uses
        ``pred_layers[i + 1]``: S4's own conv, and for S5 the conv of S3."""
        pairs = []
        for i, (p, t) in enumerate(zip(preds, targets)):
            if self.fm_loss_location != "P":
                pairs.append((p, t))
            if self.fm_loss_location != "L":
                conv = self.backbone.pred_layers[i + 1]
                w, b = conv.weight.detach(), conv.bias.detach()
                pairs.append(tuple(F.relu(F.conv2d(f, w, b, padding=conv.padding)) for f in (p, t)))
        loss = sum((1 - F.cosine_similarity(p, t)).mean() for p, t in pairs) / len(pairs)
        return loss * self.fm_loss_weight
