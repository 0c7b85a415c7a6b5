"""Flow networks for VPSNet's feature alignment (``FLOW_NET_REGISTRY``).

A flow network maps ``(target, reference, batched_inputs)`` — un-normalised RGB images
(B×3×H×W, 0-255, padded like the model input) — to the flow from target to reference: B×2×H×W,
in input pixels, (u, v) = where each target pixel is found in the reference frame. It is frozen
(no gradient, always in eval mode), as FlowNet2 is in VPSNet.

- ``RAFTSmall`` / ``RAFTLarge``: torchvision's RAFT (VPSNet used FlowNet2, which needs CUDA
  ops); weights from a local path (``MODEL.VPSNET.FLOW.WEIGHTS``), else random with a warning.
- ``ZeroFlow``: no motion (fusion without alignment; tests).
- ``Precomputed``: the ``flow`` of each input (2×H×W, from the dataset's flow files, see
  ``VideoPanopticMapper``); a frame without one (a video's first frame) gets zero flow.
"""

import logging

import torch
import torch.nn.functional as F
from detectron2.utils.registry import Registry
from torch import nn

__all__ = ["FLOW_NET_REGISTRY", "build_flow_net", "RAFTFlow", "ZeroFlow", "Precomputed"]

logger = logging.getLogger(__name__)

FLOW_NET_REGISTRY = Registry("VPS_FLOW_NET")
FLOW_NET_REGISTRY.__doc__ = "Frozen flow networks for VPSNet (MODEL.VPSNET.FLOW.NAME)."


class _FrozenFlow(nn.Module):
    def train(self, mode: bool = True):
        return super().train(False)


@FLOW_NET_REGISTRY.register()
class ZeroFlow(_FrozenFlow):
    def __init__(self, cfg=None):
        super().__init__()

    def forward(self, target, reference, batched_inputs=None):
        return target.new_zeros(target.shape[0], 2, *target.shape[2:])


@FLOW_NET_REGISTRY.register()
class Precomputed(_FrozenFlow):
    def __init__(self, cfg=None):
        super().__init__()

    def forward(self, target, reference, batched_inputs):
        out = target.new_zeros(target.shape[0], 2, *target.shape[2:])
        for i, x in enumerate(batched_inputs):
            flow = x.get("flow")
            if flow is None:
                continue
            if flow.dim() != 3 or flow.shape[0] != 2:
                raise ValueError(f"input 'flow' must be 2×H×W, got {tuple(flow.shape)}")
            h, w = flow.shape[1:]
            if h > out.shape[2] or w > out.shape[3]:
                raise ValueError(f"input 'flow' is {h}×{w}, larger than the image batch")
            out[i, :, :h, :w] = flow.to(out)
        return out


class RAFTFlow(_FrozenFlow):
    """torchvision RAFT on images padded (replicate) to a multiple of 8 and at least 128 px."""

    def __init__(self, builder, weights: str, num_updates: int, name: str):
        super().__init__()
        self.raft = builder(weights=None, progress=False)
        if weights:
            try:
                state = torch.load(weights, map_location="cpu", weights_only=True)
            except (OSError, RuntimeError) as e:
                raise ValueError(f"MODEL.VPSNET.FLOW.WEIGHTS={weights!r}: cannot load: {e}") from e
            try:
                self.raft.load_state_dict(state)
            except RuntimeError as e:
                raise ValueError(
                    f"MODEL.VPSNET.FLOW.WEIGHTS={weights!r} is not a torchvision {name} state "
                    f"dict: {e}"
                ) from e
        else:
            logger.warning(
                f"{name}: MODEL.VPSNET.FLOW.WEIGHTS is empty, so the flow network is randomly "
                "initialised and its flow is meaningless; give the path of torchvision's "
                f"{name} weights (e.g. {name.lower()}_C_T_V2) for real alignment"
            )
        self.num_updates = num_updates
        for p in self.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def forward(self, target, reference, batched_inputs=None):
        h, w = target.shape[2:]
        ph, pw = max(128, -(-h // 8) * 8), max(128, -(-w // 8) * 8)
        pad = (0, pw - w, 0, ph - h)
        a = F.pad(target / 127.5 - 1, pad, mode="replicate")
        b = F.pad(reference / 127.5 - 1, pad, mode="replicate")
        return self.raft(a, b, num_flow_updates=self.num_updates)[-1][:, :, :h, :w]


@FLOW_NET_REGISTRY.register()
def RAFTSmall(cfg):
    from torchvision.models.optical_flow import raft_small

    f = cfg.MODEL.VPSNET.FLOW
    return RAFTFlow(raft_small, f.WEIGHTS, f.NUM_UPDATES, "RAFTSmall")


@FLOW_NET_REGISTRY.register()
def RAFTLarge(cfg):
    from torchvision.models.optical_flow import raft_large

    f = cfg.MODEL.VPSNET.FLOW
    return RAFTFlow(raft_large, f.WEIGHTS, f.NUM_UPDATES, "RAFTLarge")


def build_flow_net(cfg) -> nn.Module:
    name = cfg.MODEL.VPSNET.FLOW.NAME
    if name not in FLOW_NET_REGISTRY:
        raise KeyError(
            f"MODEL.VPSNET.FLOW.NAME={name!r} is not a registered flow network; registered: "
            f"{sorted(k for k, _ in FLOW_NET_REGISTRY)}"
        )
    return FLOW_NET_REGISTRY.get(name)(cfg)
