"""VPSNet's track head (from MaskTrack R-CNN) and the test-time track memory.

Training: the sampled foreground proposals of the target frame (queries) against the GT
instances of the reference frame: affinity = ``[0, <e_query, e_ref>...]`` (N×(M+1), column 0 =
"new object"), softmax cross-entropy to ``ref index + 1`` (0 when the query's object is not in
the reference frame).

Test: detections of frame t against every track of the video so far; score = log_softmax of
the affinity + ``a log(det score) + b IoU + c [same class]`` (the "new" column: IoU
``dummy_iou``, same class). Each detection takes its best column; when several take one track,
the highest score keeps it and the others start new tracks; column 0 starts a new track. Track
ids are 1, 2, ... in order of appearance per video; a matched track's embedding, box and class
become the detection's.
"""

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from detectron2.layers import ShapeSpec
from detectron2.utils.registry import Registry
from torch import nn
from torchvision.ops import box_iou

__all__ = [
    "TRACK_HEAD_REGISTRY",
    "MaskTrackEmbedHead",
    "affinity",
    "track_targets",
    "track_loss",
    "match_scores",
    "assign_tracks",
    "TrackMemory",
]

TRACK_HEAD_REGISTRY = Registry("VPS_TRACK_HEAD")
TRACK_HEAD_REGISTRY.__doc__ = "RoI embedding heads of VPSNet's tracking (one registered)."


@TRACK_HEAD_REGISTRY.register()
class MaskTrackEmbedHead(nn.Module):
    """Flattened RoI feature -> ``num_fc`` FCs of ``fc_dim`` (ReLU between, not after the
    last)."""

    def __init__(self, input_shape: ShapeSpec, num_fc: int = 2, fc_dim: int = 1024):
        super().__init__()
        if num_fc < 1:
            raise ValueError(f"MODEL.VPSNET.TRACK.NUM_FC={num_fc}: need at least 1")
        dim = input_shape.channels * input_shape.height * input_shape.width
        layers = []
        for k in range(num_fc):
            layers.append(nn.Linear(dim if k == 0 else fc_dim, fc_dim))
            if k < num_fc - 1:
                layers.append(nn.ReLU(inplace=True))
        self.fcs = nn.Sequential(*layers)

    def forward(self, roi_features: torch.Tensor) -> torch.Tensor:
        return self.fcs(roi_features.flatten(1))


def affinity(queries: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """N×(M+1): a zero "new object" column, then the dot products."""
    dots = queries @ references.t()
    return torch.cat([dots.new_zeros(len(queries), 1), dots], dim=1)


def track_targets(query_ids: torch.Tensor, reference_ids: torch.Tensor) -> torch.Tensor:
    """For each query track id: 1 + its index among ``reference_ids``, or 0 if absent."""
    if len(reference_ids) == 0:
        return torch.zeros_like(query_ids)
    same = query_ids[:, None] == reference_ids[None, :]
    return torch.where(same.any(dim=1), same.float().argmax(dim=1) + 1, 0)


def track_loss(
    query_embeddings: Sequence[torch.Tensor],
    reference_embeddings: Sequence[torch.Tensor],
    targets: Sequence[torch.Tensor],
) -> torch.Tensor:
    """Mean over images (with at least one query) of the mean cross-entropy of the queries."""
    losses = [
        F.cross_entropy(affinity(q, r), t)
        for q, r, t in zip(query_embeddings, reference_embeddings, targets)
        if len(q)
    ]
    if not losses:
        return sum(q.sum() for q in query_embeddings) * 0
    return torch.stack(losses).mean()


def match_scores(
    aff: torch.Tensor,
    det_scores: torch.Tensor,
    ious: torch.Tensor,
    same_class: torch.Tensor,
    coeffs: Sequence[float],
    dummy_iou: float = 0.0,
) -> torch.Tensor:
    """N×(M+1) test-time scores; ``ious`` / ``same_class`` are N×M (detections × tracks)."""
    a, b, c = coeffs
    n = len(aff)
    ious = torch.cat([ious.new_full((n, 1), dummy_iou), ious], dim=1)
    same = torch.cat([same_class.new_ones((n, 1)), same_class], dim=1).to(aff.dtype)
    return (
        F.log_softmax(aff, dim=1)
        + a * torch.log(det_scores.clamp(min=1e-12))[:, None]
        + b * ious
        + c * same
    )


def assign_tracks(scores: torch.Tensor) -> torch.Tensor:
    """Column per detection (0 = new): the argmax, where a track claimed by several detections
    goes to the highest-scoring one and the others get 0."""
    best_score, best = scores.max(dim=1)
    out = best.clone()
    for col in best.unique().tolist():
        if col == 0:
            continue
        claim = (best == col).nonzero().flatten()
        if len(claim) > 1:
            winner = claim[best_score[claim].argmax()]
            out[claim[claim != winner]] = 0
    return out


class TrackMemory:
    """The tracks of the current video: embedding, last box and class per track; track id k is
    row k - 1."""

    def __init__(self, coeffs: Sequence[float], dummy_iou: float = 0.0):
        self.coeffs, self.dummy_iou = list(coeffs), dummy_iou
        self.reset()

    def reset(self):
        self.embeddings: Optional[torch.Tensor] = None
        self.boxes: Optional[torch.Tensor] = None
        self.classes: Optional[torch.Tensor] = None

    def update(
        self,
        embeddings: torch.Tensor,
        boxes: torch.Tensor,
        classes: torch.Tensor,
        scores: torch.Tensor,
    ) -> torch.Tensor:
        """Track ids (long, N) of this frame's detections; the memory takes their state."""
        if self.embeddings is None:
            self.embeddings = embeddings.new_zeros(0, embeddings.shape[1])
            self.boxes, self.classes = boxes.new_zeros(0, 4), classes.new_zeros(0)
        columns = torch.zeros(len(embeddings), dtype=torch.long, device=embeddings.device)
        if len(self.embeddings):
            s = match_scores(
                affinity(embeddings, self.embeddings),
                scores,
                box_iou(boxes, self.boxes),
                classes[:, None] == self.classes[None, :],
                self.coeffs,
                self.dummy_iou,
            )
            columns = assign_tracks(s)
        new = columns == 0
        matched = columns[~new] - 1
        self.embeddings[matched] = embeddings[~new]
        self.boxes[matched] = boxes[~new]
        self.classes[matched] = classes[~new]
        columns[new] = len(self.embeddings) + 1 + torch.arange(int(new.sum()), device=new.device)
        self.embeddings = torch.cat([self.embeddings, embeddings[new]])
        self.boxes = torch.cat([self.boxes, boxes[new]])
        self.classes = torch.cat([self.classes, classes[new]])
        return columns
