"""VPSNet's track head: affinity, targets, loss, test-time scores, conflicts, memory."""

import math

import pytest
import torch
from detectron2.layers import ShapeSpec

from vision_plugins.vpsnet.track_head import (
    MaskTrackEmbedHead,
    TrackMemory,
    affinity,
    assign_tracks,
    match_scores,
    track_loss,
    track_targets,
)


def test_affinity_has_a_zero_new_object_column():
    q, r = torch.rand(4, 8), torch.rand(3, 8)
    a = affinity(q, r)
    assert a.shape == (4, 4)
    assert torch.all(a[:, 0] == 0)
    assert torch.allclose(a[:, 1:], q @ r.t())
    assert affinity(q, torch.rand(0, 8)).shape == (4, 1)


def test_track_targets_are_reference_index_plus_one_or_zero():
    refs = torch.tensor([3001, 1002, 7005])
    queries = torch.tensor([1002, 9999, 7005, 3001, 1002])
    assert track_targets(queries, refs).tolist() == [2, 0, 3, 1, 2]
    assert track_targets(queries, torch.zeros(0, dtype=torch.long)).tolist() == [0] * 5


def test_track_loss_is_the_mean_image_cross_entropy():
    q = [torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.zeros(0, 2), torch.tensor([[1.0, 1.0]])]
    r = [torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2), torch.zeros(0, 2)]
    t = [torch.tensor([1, 0]), torch.zeros(0, dtype=torch.long), torch.tensor([0])]
    # image 1: logits [0, 1] -> target 1: log(1 + e^-1); [0, 0] -> target 0: log 2
    # image 2: no query (skipped); image 3: a single "new" column: 0
    expected = ((math.log(1 + math.exp(-1)) + math.log(2)) / 2 + 0.0) / 2
    assert track_loss(q, r, t).item() == pytest.approx(expected, rel=1e-6)


def test_match_scores_combine_the_four_terms():
    aff = torch.tensor([[0.0, 2.0, 1.0]])
    scores = torch.tensor([0.5])
    ious = torch.tensor([[0.8, 0.1]])
    same = torch.tensor([[True, False]])
    s = match_scores(aff, scores, ious, same, (1.0, 2.0, 10.0), dummy_iou=0.0)
    lse = math.log(1 + math.exp(2) + math.exp(1))
    log_score = math.log(0.5)
    expected = [
        0 - lse + log_score + 0 + 10,  # new object: IoU 0, counts as the same class
        2 - lse + log_score + 1.6 + 10,
        1 - lse + log_score + 0.2 + 0,
    ]
    assert s[0].tolist() == pytest.approx(expected, rel=1e-6)


def test_conflicts_go_to_the_best_score_and_the_others_start_tracks():
    scores = torch.tensor(
        [
            [0.0, 5.0, 1.0],  # wants track 1 (5.0)
            [0.0, 7.0, 1.0],  # wants track 1 (7.0): wins
            [3.0, 1.0, 1.0],  # new
            [0.0, 1.0, 2.0],  # track 2, uncontested
        ]
    )
    assert assign_tracks(scores).tolist() == [0, 1, 0, 2]


def _box(x, y, s=10.0):
    return [x, y, x + s, y + s]


def test_memory_allocates_new_ids_matches_and_resets():
    memory = TrackMemory((1.0, 2.0, 10.0))
    e = torch.eye(4) * 5
    boxes = torch.tensor([_box(0, 0), _box(50, 0), _box(0, 50)])
    ids = memory.update(e[:3], boxes, torch.tensor([0, 1, 0]), torch.ones(3) * 0.9)
    assert ids.tolist() == [1, 2, 3]  # first frame: all new, in order
    # frame 2: the objects in another order, slightly moved, plus a new one
    boxes2 = torch.tensor([_box(1, 50), _box(51, 0), _box(30, 30), _box(1, 1)])
    ids = memory.update(
        torch.stack([e[2], e[1], e[3], e[0]]), boxes2, torch.tensor([0, 1, 2, 0]), torch.ones(4)
    )
    assert ids.tolist() == [3, 2, 4, 1]
    assert torch.equal(memory.boxes[0], boxes2[3])  # a matched track takes the latest box
    # two detections claiming one track: the better one keeps it, the other is a new track
    ids = memory.update(
        torch.stack([e[0], e[0]]),
        torch.tensor([_box(1, 1), _box(40, 40)]),
        torch.tensor([0, 0]),
        torch.tensor([0.9, 0.9]),
    )
    assert ids.tolist() == [1, 5]
    memory.reset()
    assert memory.update(e[:1], boxes[:1], torch.tensor([0]), torch.ones(1)).tolist() == [1]


def test_embed_head_shapes():
    head = MaskTrackEmbedHead(ShapeSpec(channels=4, height=7, width=7), num_fc=2, fc_dim=16)
    assert head(torch.rand(5, 4, 7, 7)).shape == (5, 16)
    assert [type(m).__name__ for m in head.fcs] == ["Linear", "ReLU", "Linear"]
    with pytest.raises(ValueError, match="NUM_FC=0"):
        MaskTrackEmbedHead(ShapeSpec(channels=4, height=7, width=7), num_fc=0)
